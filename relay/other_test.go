package relay

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
	"one-api/relay/tokenizer"
)

// TestMediaEndpoints: images, speech, transcriptions and moderations go
// through the same channel choice and are billed per request.
func TestMediaEndpoints(t *testing.T) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("model", "whisper-1")
	fw, _ := mw.CreateFormFile("file", "a.mp3")
	fw.Write([]byte("ID3 fake audio bytes"))
	mw.WriteField("response_format", "json")
	mw.Close()
	transcript := "hello from the audio"

	for _, tc := range []struct {
		name, path, contentType, body, answer string
		mapping                               string
		quota                                 int
		check                                 func(t *testing.T, got seen)
	}{
		{
			// dall-e-3 ratio 20, 1024x1792 factor 2, hd ×1.5, n=2: 20 × 3 × 1000 × 2.
			name: "images", path: "/v1/images/generations", contentType: "application/json",
			body:   `{"model":"dall-e-3","prompt":"a cat","n":2,"size":"1024x1792","quality":"hd"}`,
			answer: `{"created":1,"data":[{"url":"https://x/1.png"},{"url":"https://x/2.png"}]}`, quota: 120000,
		},
		{
			// tts-1 ratio 7.5 × 11 characters = 82.5 → 83.
			name: "speech", path: "/v1/audio/speech", contentType: "application/json",
			body: `{"model":"tts-1","input":"héllo world","voice":"alloy"}`, answer: "MP3DATA", quota: 83,
		},
		{
			name: "transcription with mapping", path: "/v1/audio/transcriptions", contentType: mw.FormDataContentType(),
			body: form.String(), answer: `{"text":"` + transcript + `"}`, mapping: `{"whisper-1":"whisper-large"}`,
			// Priced as the model sent upstream, unknown here: ratio 30 per
			// transcript token.
			quota: 30 * tokenizer.CountText("whisper-1", transcript),
			check: func(t *testing.T, got seen) {
				_, params, _ := mime.ParseMediaType(got.Header.Get("Content-Type"))
				r := multipart.NewReader(strings.NewReader(got.Body), params["boundary"])
				fields := map[string]string{}
				for {
					p, err := r.NextPart()
					if err != nil {
						break
					}
					b, _ := io.ReadAll(p)
					fields[p.FormName()] = string(b)
				}
				if fields["model"] != "whisper-large" || fields["file"] != "ID3 fake audio bytes" || fields["response_format"] != "json" {
					t.Errorf("upstream form = %v, want the model mapped and the rest kept", fields)
				}
			},
		},
		{
			// No model: one-api's default text-moderation-stable, ratio 0.1.
			name: "moderations", path: "/v1/moderations", contentType: "application/json",
			body: `{"input":"some text to check"}`, answer: `{"id":"modr-1","results":[{"flagged":false}]}`,
			quota: int(ceilQuota(tokenizer.CountText("text-moderation-stable", "some text to check"), 0, 0.1, 1)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { io.WriteString(w, tc.answer) })
			ch := channel(model.ChannelOpenAI, "a", up.URL, "dall-e-3,tts-1,whisper-1,text-moderation-stable")
			if tc.mapping != "" {
				ch.ModelMapping = &tc.mapping
			}
			e := newEnv(t, envConfig{channels: []*model.Channel{ch}})
			w := e.do("POST", tc.path, tc.body, "Content-Type", tc.contentType)
			if w.Code != 200 || w.Body.String() != tc.answer {
				t.Fatalf("answer %d %s", w.Code, w.Body)
			}
			got := up.last(t)
			if got.Path != tc.path {
				t.Errorf("upstream path %s", got.Path)
			}
			if tc.check != nil {
				tc.check(t, got)
			} else if got.Body != tc.body {
				t.Errorf("upstream body %s, want the client's", got.Body)
			}
			if logs := e.logs(); len(logs) != 1 || logs[0].Quota != tc.quota {
				t.Errorf("logs = %+v, want one of %d units", logs, tc.quota)
			}
		})
	}
}

// TestForcedChannel: "sk-<key>-<id>" pins an admin's request to channel id.
func TestForcedChannel(t *testing.T) {
	a := newFake(t, answerJSON(1, 1))
	b := newFake(t, answerJSON(1, 1))
	disabled := channel(model.ChannelOpenAI, "off", b.URL, "gpt-3.5-turbo")
	disabled.Status = model.ChannelManuallyDisabled
	e := newEnv(t, envConfig{role: model.RoleAdmin, channels: []*model.Channel{
		prio(channel(model.ChannelOpenAI, "a", a.URL, "gpt-3.5-turbo"), 10, 0),
		channel(model.ChannelOpenAI, "b", b.URL, "other-model"),
		disabled,
	}})
	const body = `{"model":"gpt-3.5-turbo","messages":[]}`
	e.key = "sk-" + tokenKey + "-2"
	if w := e.do("POST", "/v1/chat/completions", body); w.Code != 200 || b.hits.Load() != 1 || a.hits.Load() != 0 {
		t.Errorf("forced channel 2: %d, hits a=%d b=%d", w.Code, a.hits.Load(), b.hits.Load())
	}
	e.key = "sk-" + tokenKey + "-3"
	if w := e.do("POST", "/v1/chat/completions", body); w.Code != http.StatusForbidden {
		t.Errorf("forced disabled channel: %d %s, want 403", w.Code, w.Body)
	}
	e.key = "sk-" + tokenKey + "-9"
	if w := e.do("POST", "/v1/chat/completions", body); w.Code != http.StatusBadRequest {
		t.Errorf("forced unknown channel: %d %s, want 400", w.Code, w.Body)
	}
}

// TestReload: a channel added to the database serves once Reload ran (the
// admin API's ChannelsChanged hook), not before.
func TestReload(t *testing.T) { testdb.Run(t, testReload) }

func testReload(t *testing.T, dialect string) {
	up := newFake(t, answerJSON(1, 1))
	e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")}})
	const body = `{"model":"gpt-4","messages":[]}`
	if w := e.do("POST", "/v1/chat/completions", body); w.Code != http.StatusNotFound {
		t.Fatalf("before: %d", w.Code)
	}
	if err := e.store.CreateChannels(t.Context(), []*model.Channel{channel(model.ChannelOpenAI, "b", up.URL, "gpt-4")}); err != nil {
		t.Fatal(err)
	}
	if err := e.relay.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w := e.do("POST", "/v1/chat/completions", body); w.Code != 200 {
		t.Errorf("after reload: %d %s", w.Code, w.Body)
	}
}
