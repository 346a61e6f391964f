package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestDecodeJSONKeepsNumbersExact(t *testing.T) {
	g := NewWithT(t)
	doc, err := DecodeJSON([]byte(`{"id": 12345678901234567890, "amount": 0.1, "tags": ["a", 2]}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc).To(Equal(map[string]any{
		"id": json.Number("12345678901234567890"), "amount": json.Number("0.1"), "tags": []any{"a", json.Number("2")},
	}))
	_, err = DecodeJSON([]byte(`{} {}`))
	g.Expect(err).To(MatchError(ContainSubstring("data after the document")))
	_, err = DecodeJSON([]byte(`{`))
	g.Expect(err).To(HaveOccurred())
}

func TestLookup(t *testing.T) {
	doc := map[string]any{"data": map[string]any{"items": []any{map[string]any{"id": "a"}}}, "next": nil}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"", doc, true},
		{"data.items.0.id", "a", true},
		{"next", nil, true},
		{"data.items.1", nil, false},
		{"data.items.x", nil, false},
		{"data.missing", nil, false},
		{"data.items.0.id.deeper", nil, false},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		v, ok := Lookup(doc, tt.path)
		g.Expect(ok).To(Equal(tt.ok), tt.path)
		if tt.want == nil {
			g.Expect(v).To(BeNil(), tt.path)
		} else {
			g.Expect(v).To(Equal(tt.want), tt.path)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	g := NewWithT(t)
	var gotBody, gotType string
	srv, c, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 256)
		n, _ := r.Body.Read(b)
		gotBody, gotType = string(b[:n]), r.Header.Get("Content-Type")
		_, _ = w.Write([]byte(`{"big": 9007199254740993}`))
	}), Options{Retry: testRetry})
	resp, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL, JSON: map[string]any{"n": json.Number("9007199254740993")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gotBody).To(Equal(`{"n":9007199254740993}`))
	g.Expect(gotType).To(Equal("application/json"))
	doc, err := resp.JSON()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc).To(Equal(map[string]any{"big": json.Number("9007199254740993")}))

	doc, _, err = c.GetJSON(context.Background(), srv.URL, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc).To(HaveKeyWithValue("big", json.Number("9007199254740993")))
}
