package relay

import (
	"one-api/relay/openai"
	"one-api/relay/tokenizer"
)

// estimatePrompt is the prompt size the reservation assumes: one token per
// four bytes of the prompt as sent. A reservation is only a hold, settled
// against upstream's usage, so it need not be exact, and tokenizing every
// prompt cost more CPU than the rest of the relay path together.
func estimatePrompt(p *parsed) int {
	var raw []byte
	switch p.mode {
	case modeChat:
		raw = p.req.Messages
	case modeCompletions:
		raw = p.req.Prompt
	case modeEmbeddings, modeModerations:
		raw = p.req.Input
	case modeResponses, modeMessages, modeCountTokens:
		// Input items, tools and system prompt all count: the whole body.
		raw = p.body
	}
	return (len(raw) + 3) / 4
}

// countPrompt counts the prompt tokens of a request for model, locally, for
// billing when upstream reports no usage. Media endpoints have no text prompt.
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
	case modeResponses, modeMessages, modeCountTokens:
		return countText(model, promptText(p))
	}
	return 0
}

// countText counts the tokens of generated text for model.
func countText(model string, text []byte) int {
	return tokenizer.CountText(model, string(text))
}
