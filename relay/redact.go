package relay

import (
	"regexp"
	"strings"
)

// redacted replaces a secret in a message passed on from upstream.
const redacted = "[redacted]"

// secretPattern matches strings shaped like provider secrets: OpenAI and
// Anthropic keys (sk-…, sk-proj-…, sk-ant-…), Google API keys (AIza…), AWS
// access key ids, bearer tokens, and long mixed letter-and-digit runs such
// as Azure's 32-character hex keys. Upstreams quote the key they were sent
// in 401s ("Incorrect API key provided: sk-…"), and a proxy in front of a
// provider may quote others.
var secretPattern = regexp.MustCompile(
	`sk-[A-Za-z0-9_\-]{8,}` +
		`|AIza[0-9A-Za-z_\-]{20,}` +
		`|AKIA[0-9A-Z]{16}` +
		`|(?i:bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*` +
		`|\b[A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]{30,}\b` +
		`|\b[A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]{30,}\b`)

// redact removes the channel's key (each of them, for a multi-key channel)
// and anything shaped like a provider secret from msg. It runs on error
// paths only.
func redact(msg, key string) string {
	for k := range strings.FieldsFuncSeq(key, func(r rune) bool { return r == '\n' || r == ',' || r == '|' }) {
		if k = strings.TrimSpace(k); len(k) >= 8 {
			msg = strings.ReplaceAll(msg, k, redacted)
		}
	}
	return secretPattern.ReplaceAllString(msg, redacted)
}
