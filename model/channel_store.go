package model

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// abilityBatch keeps multi-row inserts far below SQLite's bound-variable
// limit (5 columns per row).
const abilityBatch = 200

// ListChannels returns a page of channels, newest first, never with their
// keys: the key column is not even read.
func (s *Store) ListChannels(ctx context.Context, p Page) ([]Channel, error) {
	var chs []Channel
	if err := p.apply(s.db.WithContext(ctx)).Omit("key").Order("id desc").Find(&chs).Error; err != nil {
		return nil, s.dbErr("list channels", err)
	}
	return chs, nil
}

// GetChannel returns the whole channels row, key included.
func (s *Store) GetChannel(ctx context.Context, id int) (*Channel, error) {
	var ch Channel
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&ch).Error; err != nil {
		return nil, s.dbErr("get channel", err)
	}
	return &ch, nil
}

// CreateChannels inserts the channels and their abilities in one
// transaction.
func (s *Store) CreateChannels(ctx context.Context, chs []*Channel) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, ch := range chs {
			normalizeChannel(ch)
			if err := tx.Create(ch).Error; err != nil {
				return err
			}
			if err := rewriteAbilities(tx, ch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.dbErr("create channel", err)
	}
	return nil
}

// UpdateChannel writes the named columns of ch (zero values included) to row
// ch.ID and rewrites its abilities from the updated row, in one transaction.
// It returns the updated row.
func (s *Store) UpdateChannel(ctx context.Context, ch *Channel, columns []string) (*Channel, error) {
	normalizeChannel(ch)
	var updated Channel
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(columns) > 0 {
			if err := tx.Model(&Channel{}).Where("id = ?", ch.ID).Select(columns).Updates(ch).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", ch.ID).Take(&updated).Error; err != nil {
			return err
		}
		return rewriteAbilities(tx, &updated)
	})
	if err != nil {
		return nil, s.dbErr("update channel", err)
	}
	return &updated, nil
}

// DeleteChannel removes channel id and its abilities in one transaction.
func (s *Store) DeleteChannel(ctx context.Context, id int) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("channel_id = ?", id).Delete(&Ability{}).Error; err != nil {
			return err
		}
		res := tx.Where("id = ?", id).Delete(&Channel{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	if err != nil {
		return s.dbErr("delete channel", err)
	}
	return nil
}

// rewriteAbilities replaces ch's abilities with one row per model × group,
// enabled when the channel is, with the channel's priority.
func rewriteAbilities(tx *gorm.DB, ch *Channel) error {
	if err := tx.Where("channel_id = ?", ch.ID).Delete(&Ability{}).Error; err != nil {
		return fmt.Errorf("delete abilities: %w", err)
	}
	models, groups := SplitList(ch.Models), SplitList(ch.Group)
	if len(models) == 0 || len(groups) == 0 {
		return nil
	}
	var priority int64
	if ch.Priority != nil {
		priority = *ch.Priority
	}
	rows := make([]Ability, 0, len(models)*len(groups))
	for _, g := range groups {
		for _, m := range models {
			rows = append(rows, Ability{Group: g, Model: m, ChannelID: ch.ID,
				Enabled: ch.Status == ChannelEnabled, Priority: &priority})
		}
	}
	if err := tx.CreateInBatches(rows, abilityBatch).Error; err != nil {
		return fmt.Errorf("insert abilities: %w", err)
	}
	return nil
}

// normalizeChannel tidies the comma lists the abilities are built from, so
// that the channel row and its abilities always agree. An empty group is
// one-api's "default".
func normalizeChannel(ch *Channel) {
	ch.Models = strings.Join(SplitList(ch.Models), ",")
	ch.Group = strings.Join(SplitList(ch.Group), ",")
	if ch.Group == "" {
		ch.Group = "default"
	}
}

// SplitList splits a comma-separated list, dropping blanks and repeats
// (a repeated model would violate the abilities primary key).
func SplitList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || seen[part] {
			continue
		}
		seen[part] = true
		out = append(out, part)
	}
	return out
}
