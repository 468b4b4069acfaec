package model

// Log types.
const (
	LogTopUp   = 1
	LogConsume = 2
	LogManage  = 3
	LogSystem  = 4
	LogTest    = 5
)

// Log is one-api's logs row. ChannelID is "channel" in JSON, as one-api sends it.
type Log struct {
	ID                int    `json:"id" gorm:"column:id"`
	UserID            int    `json:"user_id" gorm:"column:user_id;index"`
	CreatedAt         int64  `json:"created_at" gorm:"index:idx_created_at_type"`
	Type              int    `json:"type" gorm:"index:idx_created_at_type"`
	Content           string `json:"content"`
	Username          string `json:"username" gorm:"index:index_username_model_name,priority:2;default:''"`
	TokenName         string `json:"token_name" gorm:"index;default:''"`
	ModelName         string `json:"model_name" gorm:"index;index:index_username_model_name,priority:1;default:''"`
	Quota             int    `json:"quota" gorm:"default:0"`
	PromptTokens      int    `json:"prompt_tokens" gorm:"default:0"`
	CompletionTokens  int    `json:"completion_tokens" gorm:"default:0"`
	ChannelID         int    `json:"channel" gorm:"column:channel_id;index"`
	RequestID         string `json:"request_id" gorm:"default:''"`
	ElapsedTime       int64  `json:"elapsed_time" gorm:"default:0"`
	IsStream          bool   `json:"is_stream" gorm:"default:false"`
	SystemPromptReset bool   `json:"system_prompt_reset" gorm:"default:false"`
}
