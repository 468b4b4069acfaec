package model

import (
	"context"
	"slices"

	"gorm.io/gorm/clause"
)

// groupColumn names abilities.`group`, a reserved word.
var groupColumn = clause.Column{Table: "abilities", Name: "group"}

// GroupModels returns the models group may use: those of its enabled
// abilities, sorted.
func (s *Store) GroupModels(ctx context.Context, group string) ([]string, error) {
	var models []string
	err := s.db.WithContext(ctx).Model(&Ability{}).Distinct("model").
		Where(clause.Eq{Column: groupColumn, Value: group}).Where("enabled = ?", true).
		Order("model").Pluck("model", &models).Error
	if err != nil {
		return nil, s.dbErr("list group models", err)
	}
	return models, nil
}

// GroupModelsByChannelType returns, per channel type, the models group may
// use through enabled channels of that type, each list sorted.
func (s *Store) GroupModelsByChannelType(ctx context.Context, group string) (map[int][]string, error) {
	var rows []struct {
		Type  int
		Model string
	}
	err := s.db.WithContext(ctx).Table("abilities").
		Select("DISTINCT channels.type AS type, abilities.model AS model").
		Joins("JOIN channels ON channels.id = abilities.channel_id").
		Where(clause.Eq{Column: groupColumn, Value: group}).Where("abilities.enabled = ?", true).
		Scan(&rows).Error
	if err != nil {
		return nil, s.dbErr("list group models by channel type", err)
	}
	out := make(map[int][]string)
	for _, r := range rows {
		out[r.Type] = append(out[r.Type], r.Model)
	}
	for _, ms := range out {
		slices.Sort(ms)
	}
	return out, nil
}
