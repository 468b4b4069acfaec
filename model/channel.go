package model

// Channel types the relay knows how to address.
const (
	ChannelOpenAI           = 1
	ChannelAzure            = 3
	ChannelCustom           = 8
	ChannelAnthropic        = 14
	ChannelOpenAICompatible = 50
)

// Channel statuses.
const (
	ChannelEnabled          = 1
	ChannelManuallyDisabled = 2
	ChannelAutoDisabled     = 3
)

// Channel is one-api's channels row: one upstream account.
type Channel struct {
	ID                 int     `json:"id" gorm:"column:id"`
	Type               int     `json:"type" gorm:"default:0"`
	Key                string  `json:"key" gorm:"type:text"`
	Status             int     `json:"status" gorm:"default:1"`
	Name               string  `json:"name" gorm:"index"`
	Weight             *uint   `json:"weight" gorm:"default:0"`
	CreatedTime        int64   `json:"created_time"`
	TestTime           int64   `json:"test_time"`
	ResponseTime       int     `json:"response_time"`
	BaseURL            *string `json:"base_url" gorm:"column:base_url;default:''"`
	Other              *string `json:"other"`
	Balance            float64 `json:"balance"`
	BalanceUpdatedTime int64   `json:"balance_updated_time"`
	Models             string  `json:"models"`
	Group              string  `json:"group" gorm:"type:varchar(32);default:default"`
	UsedQuota          int64   `json:"used_quota" gorm:"default:0"`
	ModelMapping       *string `json:"model_mapping" gorm:"type:varchar(1024);default:''"`
	Priority           *int64  `json:"priority" gorm:"default:0"`
	Config             string  `json:"config"`
	SystemPrompt       *string `json:"system_prompt" gorm:"type:text"`
}

// Ability is one routable (group, model, channel) triple.
type Ability struct {
	Group     string `json:"group" gorm:"type:varchar(32);primaryKey;autoIncrement:false"`
	Model     string `json:"model" gorm:"primaryKey;autoIncrement:false"`
	ChannelID int    `json:"channel_id" gorm:"column:channel_id;primaryKey;autoIncrement:false;index"`
	Enabled   bool   `json:"enabled"`
	Priority  *int64 `json:"priority" gorm:"default:0;index"`
}
