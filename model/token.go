package model

// Token statuses.
const (
	TokenEnabled   = 1
	TokenDisabled  = 2
	TokenExpired   = 3
	TokenExhausted = 4
)

// Token is one-api's tokens row. Key is stored without the "sk-" prefix.
type Token struct {
	ID             int     `json:"id" gorm:"column:id"`
	UserID         int     `json:"user_id" gorm:"column:user_id"`
	Key            string  `json:"key" gorm:"type:char(48);uniqueIndex"`
	Status         int     `json:"status" gorm:"default:1"`
	Name           string  `json:"name" gorm:"index"`
	CreatedTime    int64   `json:"created_time"`
	AccessedTime   int64   `json:"accessed_time"`
	ExpiredTime    int64   `json:"expired_time" gorm:"default:-1"`
	RemainQuota    int64   `json:"remain_quota" gorm:"default:0"`
	UnlimitedQuota bool    `json:"unlimited_quota" gorm:"default:false"`
	UsedQuota      int64   `json:"used_quota" gorm:"default:0"`
	Models         *string `json:"models"`
	Subnet         *string `json:"subnet" gorm:"default:''"`
	// RPMLimit is this gateway's per-token requests-per-minute limit
	// (beyond one-api, whose queries ignore the column); NULL or 0 = none.
	RPMLimit *int `json:"rpm_limit" gorm:"column:rpm_limit"`
}
