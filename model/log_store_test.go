package model

import (
	"context"
	"reflect"
	"testing"
)

func TestLogStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		logs := []Log{
			{UserID: 1, Username: "a", CreatedAt: 10, Type: LogConsume, TokenName: "t", ModelName: "m1", ChannelID: 1, Quota: 1},
			{UserID: 2, Username: "b", CreatedAt: 20, Type: LogConsume, TokenName: "t", ModelName: "m2", ChannelID: 2, Quota: 2},
			{UserID: 1, Username: "a", CreatedAt: 30, Type: LogTopUp, Quota: 4},
			{UserID: 1, Username: "a", CreatedAt: 40, Type: LogConsume, TokenName: "u", ModelName: "m1", ChannelID: 2, Quota: 8},
		}
		if err := s.logDB.Create(&logs).Error; err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			f     LogFilter
			p     Page
			want  []int64 // created_at, newest first
			quota int64
		}{
			{"all", LogFilter{}, Page{Limit: 10}, []int64{40, 30, 20, 10}, 15},
			{"user", LogFilter{UserID: 1}, Page{Limit: 10}, []int64{40, 30, 10}, 13},
			{"type and model", LogFilter{Type: LogConsume, ModelName: "m1"}, Page{Limit: 10}, []int64{40, 10}, 9},
			{"username, token, channel", LogFilter{Username: "a", TokenName: "u", ChannelID: 2}, Page{Limit: 10}, []int64{40}, 8},
			{"window", LogFilter{Start: 20, End: 30}, Page{Limit: 10}, []int64{30, 20}, 6},
			{"page", LogFilter{}, Page{Offset: 1, Limit: 2}, []int64{30, 20}, 15},
			{"none", LogFilter{ModelName: "zzz"}, Page{Limit: 10}, nil, 0},
		}
		for _, tt := range tests {
			got, err := s.ListLogs(ctx, tt.f, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			var at []int64
			for _, l := range got {
				at = append(at, l.CreatedAt)
			}
			if !reflect.DeepEqual(at, tt.want) {
				t.Errorf("%s: rows %v, want %v", tt.name, at, tt.want)
			}
			if q, err := s.SumLogQuota(ctx, tt.f); err != nil || q != tt.quota {
				t.Errorf("%s: quota %d, %v; want %d", tt.name, q, err, tt.quota)
			}
		}
		n, err := s.DeleteLogsBefore(ctx, 30)
		if err != nil || n != 2 {
			t.Errorf("deleted %d, %v; want 2", n, err)
		}
		if left, _ := s.ListLogs(ctx, LogFilter{}, Page{Limit: 10}); len(left) != 2 || left[1].CreatedAt != 30 {
			t.Errorf("left %+v, want created at 40 and 30", left)
		}
	})
}
