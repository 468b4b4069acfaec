package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseMessages(t *testing.T) {
	raw := `[
		{"role":"system","content":"be brief"},
		{"role":"user","name":"ann","content":[
			{"type":"text","text":"what is this?"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}},
			{"type":"image_url","image_url":{"url":"https://example.invalid/x.png"}},
			{"type":"input_audio","input_audio":{"data":"..."}}
		]},
		{"role":"assistant","content":null,"tool_calls":[]}
	]`
	got, err := ParseMessages(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{Role: "system", Content: []ContentPart{{Type: "text", Text: "be brief"}}},
		{Role: "user", Name: "ann", Content: []ContentPart{
			{Type: "text", Text: "what is this?"},
			{Type: "image_url", ImageDetail: "low"},
			{Type: "image_url"},
			{Type: "input_audio"},
		}},
		{Role: "assistant"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseMessagesErrors(t *testing.T) {
	for _, raw := range []string{`{}`, `[{"role":1}]`, `[{"role":"user","content":5}]`, `[`} {
		if _, err := ParseMessages(json.RawMessage(raw)); !errors.Is(err, ErrInvalidField) {
			t.Errorf("ParseMessages(%s) err = %v, want ErrInvalidField", raw, err)
		}
	}
}

func TestParseInput(t *testing.T) {
	tests := []struct {
		raw     string
		want    Input
		wantErr bool
	}{
		{``, Input{}, false},
		{`null`, Input{}, false},
		{`"hello"`, Input{Texts: []string{"hello"}}, false},
		{`["a","b\n"]`, Input{Texts: []string{"a", "b\n"}}, false},
		{`[1,2,3]`, Input{Tokens: 3}, false},
		{`[[1,2],[3],"x"]`, Input{Texts: []string{"x"}, Tokens: 3}, false},
		{`5`, Input{}, true},
		{`{"a":1}`, Input{}, true},
	}
	for _, tt := range tests {
		got, err := ParseInput(json.RawMessage(tt.raw))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseInput(%s) err = %v, wantErr %v", tt.raw, err, tt.wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseInput(%s) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}
