package relay

import "testing"

func TestRedact(t *testing.T) {
	const key = "azurekey0123456789abcdef01234567"
	for _, tc := range []struct{ in, want string }{
		{"Incorrect API key provided: sk-abc123def456ghi789. You can find your API key at https://platform.openai.com/account/api-keys.",
			"Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys."},
		{"key sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 and sk-ant-api03-abcdefghijklmnop", "key [redacted] and [redacted]"},
		{"API key not valid: AIzaSyA1234567890abcdefghijklmnopqrstu", "API key not valid: [redacted]"},
		{"Access denied for " + key, "Access denied for [redacted]"},
		{"the channel key is " + key[:12] + "… (the key itself: " + key + ")", "the channel key is " + key[:12] + "… (the key itself: [redacted])"},
		{"Authorization: Bearer abc.def.ghi-jkl", "Authorization: [redacted]"},
		{"AWS AKIAIOSFODNN7EXAMPLE denied", "AWS [redacted] denied"},
		// Ordinary messages pass unchanged.
		{"This model's maximum context length is 4097 tokens. However, your messages resulted in 5000 tokens.",
			"This model's maximum context length is 4097 tokens. However, your messages resulted in 5000 tokens."},
		{"The model `gpt-4-turbo-2024-04-09` does not exist", "The model `gpt-4-turbo-2024-04-09` does not exist"},
		{"Rate limit reached for gpt-4 in organization org-abc on tokens per min", "Rate limit reached for gpt-4 in organization org-abc on tokens per min"},
	} {
		if got := redact(tc.in, key); got != tc.want {
			t.Errorf("redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	// A multi-key channel: every key goes.
	if got := redact("bad key k1secretvalue, bad key k2secretvalue", "k1secretvalue\nk2secretvalue"); got != "bad key [redacted], bad key [redacted]" {
		t.Errorf("multi-key: got %q", got)
	}
}
