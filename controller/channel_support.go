package controller

import (
	"one-api/model"
	"one-api/relay/channeltype"
)

// channelView is a channel as the channel list shows it: one-api's row,
// plus, for a type this gateway cannot serve, why it is never routed (the
// row stays so that switching back to one-api loses nothing).
type channelView struct {
	model.Channel
	Unsupported string `json:"unsupported,omitempty"`
}

func channelViews(chs []model.Channel) []channelView {
	out := make([]channelView, len(chs))
	for i := range chs {
		out[i].Channel = chs[i]
		if info := channeltype.Lookup(chs[i].Type); !info.Supported() {
			out[i].Unsupported = channeltype.UnsupportedMessage(info)
		}
	}
	return out
}
