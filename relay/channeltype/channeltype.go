// Package channeltype is the one table of one-api's channel types as this
// gateway serves them: for each type number (the channels.type column), the
// protocol its upstream speaks, the base URL used when a channel's base_url
// is empty, the path prefix that replaces the client's "/v1", and how the
// key is sent. A type missing from the table, or marked Unsupported, is
// never routed: no request goes out in a protocol the upstream does not
// speak.
package channeltype

import "fmt"

// Protocol is the wire protocol of an upstream.
type Protocol int

const (
	// Unsupported upstreams speak a protocol this gateway has no adaptor for.
	Unsupported Protocol = iota
	// OpenAI upstreams take the client's body as is (zero-cost passthrough).
	OpenAI
	// Azure is OpenAI on deployment paths with an api-version query.
	Azure
	// Anthropic is the Messages API (relay/adaptor/anthropic).
	Anthropic
	// Gemini is generateContent (relay/adaptor/gemini).
	Gemini
)

func (p Protocol) String() string {
	switch p {
	case OpenAI:
		return "OpenAI"
	case Azure:
		return "Azure"
	case Anthropic:
		return "Anthropic"
	case Gemini:
		return "Gemini"
	}
	return "unsupported"
}

// Auth is how the channel key travels.
type Auth int

const (
	AuthBearer     Auth = iota // Authorization: Bearer <key>
	AuthAPIKey                 // api-key: <key> (Azure)
	AuthXAPIKey                // x-api-key: <key> (Anthropic)
	AuthGoogAPIKey             // x-goog-api-key: <key> (Gemini)
)

// Header is the header name and the value for key.
func (a Auth) Header(key string) (name, value string) {
	switch a {
	case AuthAPIKey:
		return "api-key", key
	case AuthXAPIKey:
		return "x-api-key", key
	case AuthGoogAPIKey:
		return "x-goog-api-key", key
	}
	return "Authorization", "Bearer " + key
}

// Info describes one channel type.
type Info struct {
	Type     int
	Name     string // one-api's name for the type
	Protocol Protocol
	// BaseURL is one-api's default, used when the channel's base_url is
	// empty; "" means the operator must set one.
	BaseURL string
	// PathPrefix replaces the "/v1" of the client's path for OpenAI-protocol
	// types (Doubao serves /api/v3/chat/completions); "" drops it, for
	// vendors whose default base URL already ends in the version. Adaptor
	// protocols build their own paths.
	PathPrefix string
	Auth       Auth
	// Note says why an unsupported type is not served, or how a supported
	// one is reached; docs/channels.md repeats it.
	Note string
}

// Supported reports whether the gateway routes this type.
func (i Info) Supported() bool { return i.Protocol != Unsupported }

// UpstreamPath is the path a client's "/v1/…" route takes on this type.
func (i Info) UpstreamPath(clientPath string) string {
	if len(clientPath) >= 3 && clientPath[:3] == "/v1" {
		return i.PathPrefix + clientPath[3:]
	}
	return clientPath
}

// openai is a row of an OpenAI-protocol vendor on the usual "/v1" paths.
func openai(typ int, name, baseURL string) Info {
	return Info{Type: typ, Name: name, Protocol: OpenAI, BaseURL: baseURL, PathPrefix: "/v1"}
}

func unsupported(typ int, name, why string) Info {
	return Info{Type: typ, Name: name, Note: why}
}

// table is indexed by type number; facts from one-api v0.6.11's
// relay/channeltype and the vendors' API references
// (../shared/spec/channel-types.md).
var table = func() []Info {
	rows := []Info{
		openai(1, "OpenAI", "https://api.openai.com"),
		openai(2, "API2D", "https://oa.api2d.net"),
		{Type: 3, Name: "Azure", Protocol: Azure, Auth: AuthAPIKey, Note: "base_url required; deployment paths, api-version from config"},
		openai(4, "CloseAI", "https://api.closeai-proxy.xyz"),
		openai(5, "OpenAI-SB", "https://api.openai-sb.com"),
		openai(6, "OpenAIMax", "https://api.openaimax.com"),
		openai(7, "OhMyGPT", "https://api.ohmygpt.com"),
		openai(8, "Custom", ""),
		openai(9, "Ails", "https://api.caipacity.com"),
		openai(10, "AIProxy", "https://api.aiproxy.io"),
		unsupported(11, "PaLM", "Google retired the PaLM API; use a Gemini channel"),
		openai(12, "API2GPT", "https://api.api2gpt.com"),
		openai(13, "AIGC2D", "https://api.aigc2d.com"),
		// PathPrefix keeps "/v1" for /v1/messages and count_tokens, which
		// go to Anthropic channels natively (relay/messages.go).
		{Type: 14, Name: "Anthropic", Protocol: Anthropic, BaseURL: "https://api.anthropic.com", PathPrefix: "/v1", Auth: AuthXAPIKey,
			Note: "Messages API; chat completions converted, /v1/messages forwarded natively"},
		unsupported(15, "Baidu", "ERNIE's own protocol with access-token exchange; use a BaiduV2 (47) channel"),
		{Type: 16, Name: "Zhipu", Protocol: OpenAI, BaseURL: "https://open.bigmodel.cn", PathPrefix: "/api/paas/v4",
			Note: "GLM v4 OpenAI-compatible API; the key is sent as a bearer API key (the v3 chatglm_* protocol is not served)"},
		{Type: 17, Name: "Ali", Protocol: OpenAI, BaseURL: "https://dashscope.aliyuncs.com", PathPrefix: "/compatible-mode/v1",
			Note: "DashScope's OpenAI-compatible mode (same key as the native API)"},
		unsupported(18, "Xunfei", "Spark over websocket; use a XunfeiV2 (48) channel"),
		openai(19, "360", "https://ai.360.cn"),
		openai(20, "OpenRouter", "https://openrouter.ai/api"),
		unsupported(21, "AIProxyLibrary", "AIProxy's own knowledge-base protocol"),
		openai(22, "FastGPT", "https://fastgpt.run/api/openapi"),
		unsupported(23, "Tencent", "Hunyuan's own protocol with TC3 request signing"),
		{Type: 24, Name: "Gemini", Protocol: Gemini, BaseURL: "https://generativelanguage.googleapis.com", Auth: AuthGoogAPIKey,
			Note: "generateContent / streamGenerateContent; embeddings through batchEmbedContents"},
		openai(25, "Moonshot", "https://api.moonshot.cn"),
		openai(26, "Baichuan", "https://api.baichuan-ai.com"),
		unsupported(27, "Minimax", "Minimax's own chatcompletion_pro protocol"),
		openai(28, "Mistral", "https://api.mistral.ai"),
		openai(29, "Groq", "https://api.groq.com/openai"),
		{Type: 30, Name: "Ollama", Protocol: OpenAI, BaseURL: "http://localhost:11434", PathPrefix: "/v1",
			Note: "through Ollama's OpenAI-compatible /v1 endpoints"},
		openai(31, "LingYiWanWu", "https://api.lingyiwanwu.com"),
		openai(32, "StepFun", "https://api.stepfun.com"),
		unsupported(33, "AwsClaude", "AWS Bedrock needs SigV4 request signing"),
		unsupported(34, "Coze", "Coze's own bot protocol"),
		unsupported(35, "Cohere", "Cohere's own chat protocol"),
		openai(36, "DeepSeek", "https://api.deepseek.com"),
		unsupported(37, "Cloudflare", "Workers AI needs the account id in the path"),
		unsupported(38, "DeepL", "a translation API, not a chat model"),
		openai(39, "TogetherAI", "https://api.together.xyz"),
		{Type: 40, Name: "Doubao", Protocol: OpenAI, BaseURL: "https://ark.cn-beijing.volces.com", PathPrefix: "/api/v3",
			Note: "Volcengine Ark's OpenAI-compatible /api/v3"},
		{Type: 41, Name: "Novita", Protocol: OpenAI, BaseURL: "https://api.novita.ai/v3/openai", PathPrefix: ""},
		unsupported(42, "VertexAI", "Vertex AI needs Google service-account OAuth"),
		unsupported(43, "Proxy", "one-api's raw /v1/oneapi/proxy route is not served"),
		openai(44, "SiliconFlow", "https://api.siliconflow.cn"),
		openai(45, "xAI", "https://api.x.ai"),
		unsupported(46, "Replicate", "Replicate's own prediction protocol"),
		{Type: 47, Name: "BaiduV2", Protocol: OpenAI, BaseURL: "https://qianfan.baidubce.com", PathPrefix: "/v2",
			Note: "Qianfan's OpenAI-compatible /v2 (bearer API key)"},
		openai(48, "XunfeiV2", "https://spark-api-open.xf-yun.com"),
		{Type: 49, Name: "AliBailian", Protocol: OpenAI, BaseURL: "https://dashscope.aliyuncs.com", PathPrefix: "/compatible-mode/v1"},
		// Kept as before this table: an OpenAICompatible channel without a
		// base URL went to OpenAI.
		openai(50, "OpenAICompatible", "https://api.openai.com"),
		{Type: 51, Name: "GeminiOpenAICompatible", Protocol: OpenAI, BaseURL: "https://generativelanguage.googleapis.com/v1beta/openai", PathPrefix: ""},
	}
	t := make([]Info, len(rows)+1)
	for _, r := range rows {
		t[r.Type] = r
	}
	return t
}()

// Lookup returns the row of type typ; an unknown type is an Unsupported row
// named after its number.
func Lookup(typ int) Info {
	if typ > 0 && typ < len(table) && table[typ].Type == typ {
		return table[typ]
	}
	return Info{Type: typ, Name: fmt.Sprintf("type %d", typ), Note: "unknown channel type"}
}

// All returns every known row, by type number.
func All() []Info {
	out := make([]Info, 0, len(table))
	for _, r := range table {
		if r.Type != 0 {
			out = append(out, r)
		}
	}
	return out
}

// UnsupportedMessage is what the channel list and the channel test say
// about a type the gateway does not serve.
func UnsupportedMessage(i Info) string {
	return fmt.Sprintf("channel type %d (%s) is not supported by this gateway: %s", i.Type, i.Name, i.Note)
}
