package transport

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// withBudget is testRetry with many attempts and a total wait of max.
func withBudget(max time.Duration) RetryPolicy {
	r := testRetry
	r.MaxAttempts = 100
	r.MaxTotalWait = max
	return r
}

// TestTotalWaitIsBounded: the waits before retries (server hints and backoff) are summed
// over the client's requests; a request whose next wait would pass MaxTotalWait fails at
// once with the last answer, instead of blocking the run for an hour.
func TestTotalWaitIsBounded(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, map[string]string{"Retry-After": "600"}, `{"message":"maintenance"}`)}}
	srv, c, clock := serve(t, h, Options{Retry: withBudget(25 * time.Minute)})

	_, err := c.Do(context.Background(), Request{URL: srv.URL})
	var se *StatusError
	g.Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
	g.Expect(se.Code).To(Equal(503))
	g.Expect(se.Message).To(ContainSubstring("maintenance"))
	g.Expect(se.Message).To(ContainSubstring("retry waits would pass maxTotalWait 25m0s"))
	g.Expect(clock.Sleeps()).To(Equal([]time.Duration{10 * time.Minute, 10 * time.Minute}), "two waits fit in 25m, a third does not")
	g.Expect(h.calls.Load()).To(Equal(int64(3)))
	g.Expect(se.Reason()).To(Equal("HTTP503"))

	// the budget is the client's (the run's): a later request has only what is left
	h.calls.Store(0)
	_, err = c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
	g.Expect(h.calls.Load()).To(Equal(int64(1)))
	g.Expect(clock.Sleeps()).To(HaveLen(2))
}

// TestTotalWaitCountsBackoff: exponential backoff counts too, and a network failure that
// runs out of budget is reported as such.
func TestTotalWaitCountsBackoff(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){hangUp}}
	r := withBudget(2 * time.Second) // base 500ms: 0.5 + 1 fit, 2 does not
	srv, c, clock := serve(t, h, Options{Retry: r})
	_, err := c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(err).To(MatchError(ContainSubstring("retry waits would pass maxTotalWait 2s")))
	g.Expect(clock.Sleeps()).To(Equal([]time.Duration{500 * time.Millisecond, time.Second}))
}

// TestErrorReasons: a failed request names the run's failure reason: the HTTP status
// (HTTP503), RateLimited for a 429, Timeout for attempts that timed out.
func TestErrorReasons(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&StatusError{Code: 503}).Reason()).To(Equal("HTTP503"))
	g.Expect((&StatusError{Code: 404}).Reason()).To(Equal("HTTP404"))
	g.Expect((&StatusError{Code: 429}).Reason()).To(Equal("RateLimited"))

	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, // never answers
	}}
	srv, c, _ := serve(t, h, Options{Retry: RetryPolicy{MaxAttempts: 2, MaxBackoff: time.Second, RequestTimeout: 50 * time.Millisecond, MaxTotalWait: time.Minute}})
	_, err := c.Do(context.Background(), Request{URL: srv.URL})
	var reasoner interface{ Reason() string }
	g.Expect(errors.As(err, &reasoner)).To(BeTrue(), "%v", err)
	g.Expect(reasoner.Reason()).To(Equal("Timeout"))
	g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeFalse())
}

// TestMaxTotalWaitIsRequired: the API always sets maxTotalWait; the client refuses a
// policy without it.
func TestMaxTotalWaitIsRequired(t *testing.T) {
	g := NewWithT(t)
	_, err := New(Options{Retry: RetryPolicy{MaxAttempts: 1, MaxBackoff: time.Second, RequestTimeout: time.Second}})
	g.Expect(err).To(MatchError("retry: maxTotalWait must be positive, not 0s"))
}
