package transport

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestServerHintsAreHonoured(t *testing.T) {
	type answer = func(http.ResponseWriter, *http.Request)
	tests := []struct {
		name       string
		first      answer
		wantSleeps []time.Duration
	}{
		{name: "429 with Retry-After seconds",
			first:      status(429, map[string]string{"Retry-After": "7"}, ""),
			wantSleeps: []time.Duration{7 * time.Second}},
		{name: "429 with Retry-After as an HTTP-date",
			first:      status(429, map[string]string{"Retry-After": epoch.Add(42 * time.Second).Format(http.TimeFormat)}, ""),
			wantSleeps: []time.Duration{42 * time.Second}},
		{name: "Retry-After date in the past retries at once",
			first:      status(429, map[string]string{"Retry-After": epoch.Add(-time.Hour).Format(http.TimeFormat)}, ""),
			wantSleeps: nil},
		{name: "503 with Retry-After seconds",
			first:      status(503, map[string]string{"Retry-After": "3"}, ""),
			wantSleeps: []time.Duration{3 * time.Second}},
		{name: "429 with an IETF RateLimit-Reset delta",
			first:      status(429, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "12"}, ""),
			wantSleeps: []time.Duration{12 * time.Second}},
		{name: "429 with a GitHub-style epoch X-RateLimit-Reset",
			first:      status(429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(epoch.Add(90*time.Second).Unix(), 10)}, ""),
			wantSleeps: []time.Duration{90 * time.Second}},
		{name: "429 with an epoch-milliseconds reset",
			first:      status(429, map[string]string{"X-RateLimit-Reset": strconv.FormatInt(epoch.Add(1500*time.Millisecond).UnixMilli(), 10)}, ""),
			wantSleeps: []time.Duration{1500 * time.Millisecond}},
		{name: "Retry-After wins over the reset",
			first:      status(429, map[string]string{"Retry-After": "2", "RateLimit-Reset": "50"}, ""),
			wantSleeps: []time.Duration{2 * time.Second}},
		{name: "429 without hints backs off",
			first:      status(429, nil, ""),
			wantSleeps: []time.Duration{500 * time.Millisecond}},
		{name: "a success with the quota exhausted waits for the reset before the next request",
			first:      status(200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(epoch.Add(30*time.Second).Unix(), 10)}, "{}"),
			wantSleeps: []time.Duration{30 * time.Second}},
		{name: "a success with quota left does not wait",
			first:      status(200, map[string]string{"RateLimit-Remaining": "3", "RateLimit-Reset": "30"}, "{}"),
			wantSleeps: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := &scripted{answers: []func(http.ResponseWriter, *http.Request){tt.first, ok(`{}`)}}
			srv, c, clock := serve(t, h, Options{Retry: testRetry})
			for range 2 { // the second request shows a wait left behind by a success
				_, err := c.Do(context.Background(), Request{URL: srv.URL})
				g.Expect(err).NotTo(HaveOccurred())
				if h.calls.Load() >= 2 {
					break
				}
			}
			g.Expect(h.calls.Load()).To(Equal(int64(2)))
			g.Expect(clock.Sleeps()).To(Equal(tt.wantSleeps))
		})
	}
}

func TestTooLongServerWaitFailsAtOnce(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(429, map[string]string{"Retry-After": "7200"}, "")}}
	srv, c, clock := serve(t, h, Options{Retry: RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxWait: time.Hour, MaxTotalWait: 10 * time.Hour}})
	_, err := c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeTrue())
	g.Expect(err).To(MatchError(ContainSubstring("asks to wait 2h0m0s")))
	g.Expect(h.calls.Load()).To(Equal(int64(1)))
	g.Expect(clock.Sleeps()).To(BeEmpty())

	// an exhausted quota resetting too late fails the next request without sending it
	reset := strconv.FormatInt(epoch.Add(3*time.Hour).Unix(), 10)
	h = &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, "{}")}}
	srv, c, _ = serve(t, h, Options{Retry: RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxWait: time.Hour, MaxTotalWait: 10 * time.Hour}})
	_, err = c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeTrue())
	g.Expect(h.calls.Load()).To(Equal(int64(1)))
}

func TestTokenBucketPacesRequests(t *testing.T) {
	g := NewWithT(t)
	lim, err := NewLimiter(RateLimit{RequestsPerSecond: 4, Burst: 2})
	g.Expect(err).NotTo(HaveOccurred())
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){ok(`{}`)}}
	srv, c, clock := serve(t, h, Options{Limiter: lim, Retry: testRetry})
	// a second client of the same run (the sink) shares the bucket and the clock
	c2, err := New(Options{Limiter: lim, Clock: clock, Retry: testRetry})
	g.Expect(err).NotTo(HaveOccurred())
	for i := range 6 {
		cl := c
		if i%2 == 1 {
			cl = c2
		}
		_, err := cl.Do(context.Background(), Request{URL: srv.URL})
		g.Expect(err).NotTo(HaveOccurred())
	}
	// the burst of 2 goes at once, then one token every 250ms
	q := 250 * time.Millisecond
	g.Expect(clock.Sleeps()).To(Equal([]time.Duration{q, q, q, q}))
	g.Expect(h.calls.Load()).To(Equal(int64(6)))
}

func TestNewLimiter(t *testing.T) {
	g := NewWithT(t)
	lim, err := NewLimiter(RateLimit{RequestsPerSecond: 0.5, Burst: 1})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lim.Limit()).To(Equal(rate.Limit(0.5)))
	g.Expect(lim.Burst()).To(Equal(1))
	_, err = NewLimiter(RateLimit{RequestsPerSecond: 0, Burst: 1})
	g.Expect(err).To(MatchError(ContainSubstring("requestsPerSecond must be positive")))
	_, err = NewLimiter(RateLimit{RequestsPerSecond: math.Inf(1), Burst: 1})
	g.Expect(err).To(MatchError(ContainSubstring("requestsPerSecond must be positive")))
	_, err = NewLimiter(RateLimit{RequestsPerSecond: 4})
	g.Expect(err).To(MatchError(ContainSubstring("burst must be at least 1, not 0")))
}

func TestRateLimitResetHeuristic(t *testing.T) {
	now := epoch
	tests := []struct {
		name      string
		header    map[string]string
		reset     time.Time
		exhausted bool
		ok        bool
	}{
		{name: "delta seconds", header: map[string]string{"RateLimit-Reset": "30", "RateLimit-Remaining": "0"}, reset: now.Add(30 * time.Second), exhausted: true, ok: true},
		{name: "fractional delta", header: map[string]string{"RateLimit-Reset": "1.5"}, reset: now.Add(1500 * time.Millisecond), ok: true},
		{name: "unix seconds", header: map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Unix()+60, 10), "X-RateLimit-Remaining": "0"}, reset: now.Add(time.Minute), exhausted: true, ok: true},
		{name: "unix milliseconds", header: map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.UnixMilli()+250, 10)}, reset: now.Add(250 * time.Millisecond), ok: true},
		{name: "epoch in the past is now", header: map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Unix()-60, 10)}, reset: now, ok: true},
		{name: "remaining left", header: map[string]string{"RateLimit-Reset": "30", "RateLimit-Remaining": "10"}, reset: now.Add(30 * time.Second), ok: true},
		{name: "garbage", header: map[string]string{"RateLimit-Reset": "soon", "RateLimit-Remaining": "0"}, exhausted: true},
		{name: "none", header: nil},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		reset, exhausted, ok := rateLimitReset(h, now)
		g.Expect(ok).To(Equal(tt.ok), tt.name)
		g.Expect(exhausted).To(Equal(tt.exhausted), tt.name)
		if tt.ok {
			g.Expect(reset.Sub(tt.reset).Abs()).To(BeNumerically("<", time.Millisecond), tt.name)
		}
	}
}
