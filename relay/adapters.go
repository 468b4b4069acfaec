package relay

import (
	"one-api/common"
	"one-api/relay/adaptor"
	"one-api/relay/adaptor/anthropic"
	"one-api/relay/adaptor/gemini"
	"one-api/relay/channeltype"
)

// adaptorFor is the adaptor of a protocol; nil for OpenAI and Azure, whose
// bodies pass through.
func adaptorFor(p channeltype.Protocol) adaptor.Adaptor {
	switch p {
	case channeltype.Anthropic:
		return anthropic.Adaptor{}
	case channeltype.Gemini:
		return gemini.Adaptor{}
	}
	return nil
}

// warnUnsupported writes one [WARN] line per channel of a type the gateway
// cannot speak to, once at start: such channels stay in the database (an
// operator switching from one-api loses nothing) but are never routed.
func warnUnsupported(t *Table) {
	for _, ch := range t.unsupported {
		info := channeltype.Lookup(ch.Type)
		common.Warn("channel #%d %q (type %d, %s) is never routed: not supported by this gateway (%s)", ch.ID, ch.Name, ch.Type, info.Name, info.Note)
	}
}
