package demoapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// t0 is the fixed start of generated test data.
var t0 = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serve mounts h on a loopback test server closed at the end of the test.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// call sends a request with an optional JSON body (a string is sent as is) and returns
// the response (body already read) and the body decoded into out when out is not nil.
func call(t *testing.T, method, url string, body any, out any) *http.Response {
	t.Helper()
	g := NewWithT(t)
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		g.Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	g.Expect(err).NotTo(HaveOccurred())
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	if out != nil && len(raw) > 0 {
		g.Expect(json.Unmarshal(raw, out)).To(Succeed(), string(raw))
	}
	return resp
}

// wireInvoice is an invoice as a client decodes it.
type wireInvoice struct {
	ID         any     `json:"id"`
	CustomerID string  `json:"customer_id"`
	Status     string  `json:"status"`
	Total      string  `json:"total"`
	Currency   string  `json:"currency"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	DeletedAt  *string `json:"deleted_at"`
}

type wirePage struct {
	Data    []wireInvoice `json:"data"`
	Next    string        `json:"next"`
	HasMore bool          `json:"has_more"`
}

// obj is a CRM object as a client decodes it.
type obj struct {
	ID         string         `json:"id"`
	Key        string         `json:"billing_invoice_id"`
	Properties map[string]any `json:"properties"`
	Version    int            `json:"version"`
	Result     string         `json:"result"`
}

type apiErr struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	IDs     []string `json:"ids"`
}
