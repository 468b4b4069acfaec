package relay

import (
	"one-api/relay/openai"
	"one-api/relay/tokenizer"
)

// countPrompt counts the prompt tokens of a request for model, locally: the
// reservation needs them before upstream answers, and billing falls back to
// them when upstream reports no usage. Media endpoints have no text prompt.
func countPrompt(p *parsed, model string) int {
	switch p.mode {
	case modeChat:
		msgs, err := openai.ParseMessages(p.req.Messages)
		if err != nil {
			// Upstream will refuse the request; the reservation need not
			// be exact for that.
			return 0
		}
		return tokenizer.CountMessages(model, msgs)
	case modeCompletions, modeEmbeddings, modeModerations:
		raw := p.req.Input
		if p.mode == modeCompletions {
			raw = p.req.Prompt
		}
		in, err := openai.ParseInput(raw)
		if err != nil {
			return 0
		}
		return tokenizer.CountInput(model, in)
	}
	return 0
}

// countText counts the tokens of generated text for model.
func countText(model string, text []byte) int {
	return tokenizer.CountText(model, string(text))
}
