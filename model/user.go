package model

// Roles and statuses as one-api stores them.
const (
	RoleCommon = 1
	RoleAdmin  = 10
	RoleRoot   = 100

	UserEnabled  = 1
	UserDisabled = 2
	UserDeleted  = 3
)

// User is one-api's users row. Column types and tags follow one-api v0.6.x so
// that AutoMigrate on its database only adds, never rewrites.
type User struct {
	ID           int    `json:"id" gorm:"column:id"`
	Username     string `json:"username" gorm:"unique;index"`
	Password     string `json:"password,omitempty" gorm:"not null"`
	DisplayName  string `json:"display_name" gorm:"index"`
	Role         int    `json:"role" gorm:"default:1"`
	Status       int    `json:"status" gorm:"default:1"`
	Email        string `json:"email" gorm:"index"`
	GitHubID     string `json:"github_id" gorm:"column:github_id;index:idx_users_git_hub_id"`
	WeChatID     string `json:"wechat_id" gorm:"column:wechat_id;index:idx_users_we_chat_id"`
	LarkID       string `json:"lark_id" gorm:"column:lark_id;index"`
	OidcID       string `json:"oidc_id" gorm:"column:oidc_id;index"`
	AccessToken  string `json:"access_token,omitempty" gorm:"type:char(32);column:access_token;uniqueIndex"`
	Quota        int64  `json:"quota" gorm:"default:0"`
	UsedQuota    int64  `json:"used_quota" gorm:"default:0;column:used_quota"`
	RequestCount int    `json:"request_count" gorm:"default:0"`
	Group        string `json:"group" gorm:"type:varchar(32);default:default"`
	AffCode      string `json:"aff_code" gorm:"type:varchar(32);column:aff_code;uniqueIndex"`
	InviterID    int    `json:"inviter_id" gorm:"column:inviter_id;index"`
}
