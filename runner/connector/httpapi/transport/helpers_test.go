package transport

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

// epoch is the fake clock's start, on a whole second so HTTP-dates are exact.
var epoch = time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)

// testRetry is the policy of a SyncJob that leaves spec.*.retry to the CRD defaults.
var testRetry = RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxTotalWait: 10 * time.Minute}

// attempts is testRetry with n attempts.
func attempts(n int) RetryPolicy {
	r := testRetry
	r.MaxAttempts = n
	return r
}

// noJitter makes backoffs deterministic: the full capped value.
func noJitter(time.Duration) time.Duration { return 0 }

// scripted serves the answers in order (the last one repeats) and counts the requests.
type scripted struct {
	calls   atomic.Int64
	answers []func(w http.ResponseWriter, r *http.Request)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.calls.Add(1)) - 1
	if n >= len(s.answers) {
		n = len(s.answers) - 1
	}
	s.answers[n](w, r)
}

func status(code int, header map[string]string, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func ok(body string) func(http.ResponseWriter, *http.Request) {
	return status(200, map[string]string{"Content-Type": "application/json"}, body)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// serve starts a loopback server and a client with a fake clock and no jitter.
func serve(t *testing.T, h http.Handler, opts Options) (*httptest.Server, *Client, *transporttest.Clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clock := transporttest.NewClock(epoch)
	if opts.Clock == nil {
		opts.Clock = clock
	}
	if opts.Jitter == nil {
		opts.Jitter = noJitter
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clock
}
