package model

// Option is one runtime setting (options table).
type Option struct {
	Key   string `json:"key" gorm:"primaryKey"`
	Value string `json:"value"`
}

// Redemption is a top-up code.
type Redemption struct {
	ID           int    `json:"id" gorm:"column:id"`
	UserID       int    `json:"user_id" gorm:"column:user_id"`
	Key          string `json:"key" gorm:"type:char(32);uniqueIndex"`
	Status       int    `json:"status" gorm:"default:1"`
	Name         string `json:"name" gorm:"index"`
	Quota        int64  `json:"quota" gorm:"default:100"`
	CreatedTime  int64  `json:"created_time"`
	RedeemedTime int64  `json:"redeemed_time"`
	// Count is one-api's request-only field (how many codes to create); it
	// is in every answer, as 0, as one-api sends it.
	Count int `json:"count" gorm:"-:all"`
}
