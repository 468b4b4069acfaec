package relay

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"one-api/model"
)

// TestSDK drives the gateway with the official Go SDK, as a customer would.
func TestSDK(t *testing.T) {
	up := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/v1/embeddings":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}`))
		default:
			if bytes.Contains(body, []byte(`"stream":true`)) {
				answerStream(9, 3)(w, r, body)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			answerJSON(9, 2)(w, r, body)
		}
	})
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo,text-embedding-3-small")}})
	srv := newServer(t, e)
	client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
	ctx := t.Context()
	params := sdk.ChatCompletionNewParams{
		Model:    "gpt-3.5-turbo",
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")},
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if g := resp.Choices[0].Message.Content; g != "Hello there" {
			t.Errorf("content = %q", g)
		}
		if resp.Usage.PromptTokens != 9 || resp.Usage.CompletionTokens != 2 {
			t.Errorf("usage = %+v", resp.Usage)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc sdk.ChatCompletionAccumulator
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("chunk rejected by the accumulator: %+v", stream.Current())
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if g := acc.Choices[0].Message.Content; g != "Hello world" {
			t.Errorf("accumulated %q, want %q", g, "Hello world")
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		resp, err := client.Embeddings.New(ctx, sdk.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: sdk.EmbeddingNewParamsInputUnion{OfString: sdk.String("hello")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != 2 || resp.Data[0].Embedding[1] != -0.25 {
			t.Errorf("embedding = %+v", resp.Data)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		bad := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-wrong"), option.WithMaxRetries(0))
		_, err := bad.Chat.Completions.New(ctx, params)
		var apiErr *sdk.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v (%T), want *openai.Error", err, err)
		}
		if apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type != "one_api_error" || apiErr.Message == "" {
			t.Errorf("error = %d %q %q", apiErr.StatusCode, apiErr.Type, apiErr.Message)
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 2 || page.Data[0].ID != "gpt-3.5-turbo" {
			t.Errorf("models = %+v", page.Data)
		}
	})

	// A stream is billed after its [DONE] went out, so the client can be
	// done before the handler is: Close waits for every handler to return.
	srv.Close()
	if logs := e.logs(); len(logs) != 3 {
		t.Errorf("%d consume logs, want 3 (chat, stream, embeddings)", len(logs))
	}
}
