package model

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
)

func abilityRows(t *testing.T, s *Store, channelID int) []string {
	t.Helper()
	var rows []Ability
	if err := s.db.Where("channel_id = ?", channelID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Group+"/"+r.Model+"/"+map[bool]string{true: "on", false: "off"}[r.Enabled]+"/"+itoa(int(*r.Priority)))
	}
	sort.Strings(out)
	return out
}

func TestChannelStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		prio := int64(3)
		chs := []*Channel{
			{Type: ChannelOpenAI, Name: "a", Key: "sk-a", Status: ChannelEnabled, Models: " m1 ,m2,,m1", Group: "default, vip", Priority: &prio},
			{Type: ChannelOpenAI, Name: "b", Key: "sk-b", Status: ChannelManuallyDisabled, Models: "m1", Group: ""},
		}
		if err := s.CreateChannels(ctx, chs); err != nil {
			t.Fatal(err)
		}
		if g, w := abilityRows(t, s, chs[0].ID), []string{"default/m1/on/3", "default/m2/on/3", "vip/m1/on/3", "vip/m2/on/3"}; !reflect.DeepEqual(g, w) {
			t.Errorf("abilities of a = %v, want %v", g, w)
		}
		if g, w := abilityRows(t, s, chs[1].ID), []string{"default/m1/off/0"}; !reflect.DeepEqual(g, w) {
			t.Errorf("abilities of b = %v, want %v (empty group is default, disabled channel)", g, w)
		}
		if chs[0].Models != "m1,m2" || chs[1].Group != "default" {
			t.Errorf("stored lists %q / %q, want normalised", chs[0].Models, chs[1].Group)
		}

		list, err := s.ListChannels(ctx, Page{Limit: 10})
		if err != nil || len(list) != 2 || list[0].ID != chs[1].ID || list[0].Key != "" || list[1].Key != "" {
			t.Errorf("list = %+v, %v; want newest first, without keys", list, err)
		}
		if got, err := s.GetChannel(ctx, chs[0].ID); err != nil || got.Key != "sk-a" {
			t.Errorf("get = %+v, %v; want the key", got, err)
		}

		upd := &Channel{ID: chs[1].ID, Status: ChannelEnabled, Group: "vip", Key: "ignored"}
		got, err := s.UpdateChannel(ctx, upd, []string{"status", "group"})
		if err != nil || got.Key != "sk-b" || got.Status != ChannelEnabled || got.Group != "vip" || got.Name != "b" {
			t.Errorf("update = %+v, %v; want status and group changed, the rest kept", got, err)
		}
		if g, w := abilityRows(t, s, chs[1].ID), []string{"vip/m1/on/0"}; !reflect.DeepEqual(g, w) {
			t.Errorf("abilities after update = %v, want %v", g, w)
		}
		if _, err := s.UpdateChannel(ctx, &Channel{ID: 99999, Name: "x"}, []string{"name"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("update of a missing channel: err = %v, want ErrNotFound", err)
		}

		if err := s.DeleteChannel(ctx, chs[0].ID); err != nil {
			t.Fatal(err)
		}
		if g := abilityRows(t, s, chs[0].ID); len(g) != 0 {
			t.Errorf("abilities after delete = %v", g)
		}
		if err := s.DeleteChannel(ctx, chs[0].ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSplitList(t *testing.T) {
	tests := map[string][]string{
		"":               nil,
		" , ,":           nil,
		"a":              {"a"},
		" a, b ,a,,c ":   {"a", "b", "c"},
		"gpt-4o,gpt-4o ": {"gpt-4o"},
	}
	for in, want := range tests {
		if got := SplitList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitList(%q) = %q, want %q", in, got, want)
		}
	}
}
