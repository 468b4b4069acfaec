package model

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// LoadRouting reads what the relay's routing table is built from: every
// channel, and the enabled abilities.
func (s *Store) LoadRouting(ctx context.Context) ([]Channel, []Ability, error) {
	var channels []Channel
	if err := s.db.WithContext(ctx).Find(&channels).Error; err != nil {
		return nil, nil, fmt.Errorf("load channels: %w", err)
	}
	var abilities []Ability
	if err := s.db.WithContext(ctx).Where("enabled = ?", true).Find(&abilities).Error; err != nil {
		return nil, nil, fmt.Errorf("load abilities: %w", err)
	}
	return channels, abilities, nil
}

// AutoDisableChannel sets channel id to auto-disabled (3) and turns its
// abilities off, in one transaction. A channel an admin disabled by hand
// keeps its status 2.
func (s *Store) AutoDisableChannel(ctx context.Context, id int) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Channel{}).Where("id = ? AND status = ?", id, ChannelEnabled).
			Update("status", ChannelAutoDisabled).Error; err != nil {
			return err
		}
		return tx.Model(&Ability{}).Where("channel_id = ?", id).Update("enabled", false).Error
	})
	if err != nil {
		return fmt.Errorf("disable channel: %w", err)
	}
	return nil
}

// Use installs a gorm plugin (the metrics package's statement counter) on
// every database the Store opened, so it sees log writes too.
func (s *Store) Use(p gorm.Plugin) error {
	if err := s.db.Use(p); err != nil {
		return err
	}
	if s.logDB != s.db {
		return s.logDB.Use(p)
	}
	return nil
}
