package model

import (
	"context"
	"strconv"

	"gorm.io/gorm/clause"
)

// The searches keep one-api's keyword semantics: a prefix match on names
// (keyword + "%"), an exact match on ids. Every value is a bound parameter;
// an id or type is compared only when the keyword is a number, because
// PostgreSQL refuses integer = 'text' (one-api failed there).

func searchNumber(keyword string) (int, bool) {
	n, err := strconv.Atoi(keyword)
	return n, err == nil
}

// SearchTokens finds userID's tokens whose name starts with keyword.
func (s *Store) SearchTokens(ctx context.Context, userID int, keyword string, p Page) ([]Token, error) {
	var tokens []Token
	err := p.apply(s.db.WithContext(ctx)).Where("user_id = ? AND name LIKE ?", userID, keyword+"%").
		Order("id desc").Find(&tokens).Error
	if err != nil {
		return nil, s.dbErr("search tokens", err)
	}
	return tokens, nil
}

// SearchChannels finds channels whose id is keyword, whose name starts with
// it, or whose key is exactly it; keys are never read.
func (s *Store) SearchChannels(ctx context.Context, keyword string, p Page) ([]Channel, error) {
	cond := s.db.Where("name LIKE ?", keyword+"%").Or(clause.Eq{Column: keyColumn, Value: keyword})
	if id, ok := searchNumber(keyword); ok {
		cond = cond.Or("id = ?", id)
	}
	var chs []Channel
	err := p.apply(s.db.WithContext(ctx)).Omit("key").Where(cond).Order("id desc").Find(&chs).Error
	if err != nil {
		return nil, s.dbErr("search channels", err)
	}
	return chs, nil
}

// SearchLogs finds logs whose type is keyword or whose content starts with
// it (one-api's /api/log/search); userID != 0 pins them to one user, where
// one-api's /api/log/self/search matches the type only.
func (s *Store) SearchLogs(ctx context.Context, userID int, keyword string, p Page) ([]Log, error) {
	db := p.apply(s.logDB.WithContext(ctx))
	typ, numeric := searchNumber(keyword)
	switch {
	case userID != 0 && !numeric:
		return []Log{}, nil
	case userID != 0:
		db = db.Where("user_id = ? AND type = ?", userID, typ)
	case numeric:
		db = db.Where(s.logDB.Where("type = ?", typ).Or("content LIKE ?", keyword+"%"))
	default:
		db = db.Where("content LIKE ?", keyword+"%")
	}
	var logs []Log
	if err := db.Order("id desc").Find(&logs).Error; err != nil {
		return nil, s.dbErr("search logs", err)
	}
	return logs, nil
}
