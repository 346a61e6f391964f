package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestRetryPolicy(t *testing.T) {
	type answer = func(http.ResponseWriter, *http.Request)
	tests := []struct {
		name        string
		retry       RetryPolicy
		answers     []answer
		accept      []int
		wantCode    int // 0: success
		wantCalls   int64
		wantSleeps  []time.Duration
		rateLimited bool
		wantMsg     string
	}{
		{name: "5xx retried then succeeding", retry: testRetry, answers: []answer{status(503, nil, ""), status(500, nil, ""), ok(`{}`)},
			wantCalls: 3, wantSleeps: []time.Duration{500 * time.Millisecond, time.Second}},
		{name: "5xx exhausting the budget", retry: attempts(3), answers: []answer{status(502, nil, `{"error":{"message":"upstream down"}}`)},
			wantCode: 502, wantCalls: 3, wantSleeps: []time.Duration{500 * time.Millisecond, time.Second}, wantMsg: "upstream down"},
		{name: "400 answered at once", retry: testRetry, answers: []answer{status(400, nil, `{"message":"amount: not a number"}`)},
			wantCode: 400, wantCalls: 1, wantMsg: "amount: not a number"},
		{name: "404 answered at once", retry: testRetry, answers: []answer{status(404, nil, "no such thing")},
			wantCode: 404, wantCalls: 1, wantMsg: "no such thing"},
		{name: "accepted 404 is a response", retry: testRetry, answers: []answer{status(404, nil, "")}, accept: []int{404},
			wantCalls: 1},
		{name: "429 exhausting the budget is rate limited", retry: attempts(2), answers: []answer{status(429, nil, "slow down")},
			wantCode: 429, wantCalls: 2, wantSleeps: []time.Duration{500 * time.Millisecond}, rateLimited: true},
		{name: "maxAttempts 1 never retries", retry: attempts(1), answers: []answer{status(503, nil, "")},
			wantCode: 503, wantCalls: 1},
		{name: "maxBackoff caps the backoff", retry: RetryPolicy{MaxAttempts: 6, BaseBackoff: time.Second, MaxBackoff: 3 * time.Second, RequestTimeout: 30 * time.Second, MaxTotalWait: 10 * time.Minute},
			answers: []answer{status(500, nil, "")}, wantCode: 500, wantCalls: 6,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}},
		{name: "network error retried", retry: testRetry, answers: []answer{hangUp, hangUp, ok(`{}`)},
			wantCalls: 3, wantSleeps: []time.Duration{500 * time.Millisecond, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := &scripted{answers: tt.answers}
			srv, c, clock := serve(t, h, Options{Retry: tt.retry})
			resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/v1/items", Accept: tt.accept})
			g.Expect(h.calls.Load()).To(Equal(tt.wantCalls))
			g.Expect(clock.Sleeps()).To(Equal(tt.wantSleeps))
			g.Expect(c.Stats().Requests).To(Equal(tt.wantCalls))
			g.Expect(c.Stats().Retries).To(Equal(tt.wantCalls - 1))
			if tt.wantCode == 0 {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(resp.Status).To(Or(Equal(200), BeElementOf(tt.accept)))
				return
			}
			var se *StatusError
			g.Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
			g.Expect(se.Code).To(Equal(tt.wantCode))
			g.Expect(se.Attempts).To(Equal(int(tt.wantCalls)))
			g.Expect(se.Method).To(Equal("GET"))
			g.Expect(se.URL).To(Equal(srv.URL + "/v1/items"))
			g.Expect(se.Message).To(ContainSubstring(tt.wantMsg))
			g.Expect(errors.Is(err, connector.ErrRateLimited)).To(Equal(tt.rateLimited))
		})
	}
}

func TestStatsCountAnswers(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		hangUp, status(429, nil, ""), status(500, nil, ""), ok(`{}`)}}
	srv, c, _ := serve(t, h, Options{Retry: testRetry})
	_, err := c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(err).NotTo(HaveOccurred())
	s := c.Stats()
	g.Expect(s).To(Equal(Stats{Requests: 4, TooManyRequests: 1, ServerErrors: 1, NetworkErrors: 1, Retries: 3,
		Waited: 500*time.Millisecond + time.Second + 2*time.Second}))
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	_, c, clock := serve(t, http.NotFoundHandler(), Options{Retry: attempts(3)})
	_, err = c.Do(context.Background(), Request{URL: "http://" + addr + "/x?token=s3cr3t"})
	g.Expect(err).To(MatchError(ContainSubstring("after 3 attempts")))
	g.Expect(err.Error()).NotTo(ContainSubstring("s3cr3t"))
	g.Expect(c.Stats().NetworkErrors).To(Equal(int64(3)))
	g.Expect(clock.Sleeps()).To(HaveLen(2))
}

func TestNotIdempotentIsNotRetriedAfterSending(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){hangUp, ok(`{}`)}}
	srv, c, _ := serve(t, h, Options{Retry: testRetry})
	_, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL, JSON: map[string]any{"a": 1}, NotIdempotent: true})
	g.Expect(err).To(HaveOccurred())
	g.Expect(h.calls.Load()).To(Equal(int64(1)))

	// a 503 is the server's word that it failed: retried even so
	h = &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, nil, ""), ok(`{}`)}}
	srv, c, _ = serve(t, h, Options{Retry: testRetry})
	_, err = c.Do(context.Background(), Request{Method: "POST", URL: srv.URL, NotIdempotent: true})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.calls.Load()).To(Equal(int64(2)))
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	g := NewWithT(t)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, // never answers
		ok(`{"ok":true}`),
	}}
	srv, c, _ := serve(t, h, Options{Retry: RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 50 * time.Millisecond, MaxTotalWait: 10 * time.Minute}})
	resp, err := c.Do(context.Background(), Request{URL: srv.URL})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(resp.Body)).To(Equal(`{"ok":true}`))
	g.Expect(c.Stats().NetworkErrors).To(Equal(int64(1)))
}

func TestCancellationAbortsTheWait(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			cancel() // the client is about to wait 10 minutes
			status(503, map[string]string{"Retry-After": "600"}, "")(w, r)
		},
	}}
	srv, c, _ := serve(t, h, Options{Clock: SystemClock{}, Retry: testRetry})
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, Request{URL: srv.URL})
		done <- err
	}()
	var err error
	g.Eventually(done, "10s").Should(Receive(&err))
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "%v", err)
	g.Expect(h.calls.Load()).To(Equal(int64(1)))
}

func TestBackoffJitterStaysWithinTheCap(t *testing.T) {
	r := RetryPolicy{MaxAttempts: 6, BaseBackoff: time.Second, MaxBackoff: 10 * time.Second, RequestTimeout: 30 * time.Second}.withTunables()
	tests := []struct {
		n        int
		jitter   Jitter
		min, max time.Duration
	}{
		{n: 1, jitter: noJitter, min: time.Second, max: time.Second},
		{n: 1, jitter: func(m time.Duration) time.Duration { return m - 1 }, min: 500 * time.Millisecond, max: 500*time.Millisecond + 1},
		{n: 4, jitter: noJitter, min: 8 * time.Second, max: 8 * time.Second},
		{n: 5, jitter: noJitter, min: 10 * time.Second, max: 10 * time.Second},
		{n: 80, jitter: noJitter, min: 10 * time.Second, max: 10 * time.Second},
		{n: 80, jitter: RandomJitter, min: 5 * time.Second, max: 10 * time.Second},
		{n: 3, jitter: func(time.Duration) time.Duration { return -time.Hour }, min: 4 * time.Second, max: 4 * time.Second},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		d := r.backoff(tt.n, tt.jitter)
		g.Expect(d).To(BeNumerically(">=", tt.min), "retry %d", tt.n)
		g.Expect(d).To(BeNumerically("<=", tt.max), "retry %d", tt.n)
	}
}

// TestRetryPolicyValidate: a policy missing a value the SyncJob always carries is refused,
// naming the field; New refuses it too.
func TestRetryPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*RetryPolicy)
		wantErr string
	}{
		{name: "complete", edit: func(*RetryPolicy) {}},
		{name: "tunables left zero", edit: func(r *RetryPolicy) { r.BaseBackoff, r.MaxWait = 0, 0 }},
		{name: "no maxAttempts", edit: func(r *RetryPolicy) { r.MaxAttempts = 0 }, wantErr: "maxAttempts must be at least 1, not 0"},
		{name: "no maxBackoff", edit: func(r *RetryPolicy) { r.MaxBackoff = 0 }, wantErr: "maxBackoff must be positive"},
		{name: "no requestTimeout", edit: func(r *RetryPolicy) { r.RequestTimeout = 0 }, wantErr: "requestTimeout must be positive"},
		{name: "negative baseBackoff", edit: func(r *RetryPolicy) { r.BaseBackoff = -time.Second }, wantErr: "baseBackoff must not be negative"},
		{name: "negative maxWait", edit: func(r *RetryPolicy) { r.MaxWait = -time.Second }, wantErr: "maxWait must not be negative"},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		r := testRetry
		tt.edit(&r)
		err := r.Validate()
		_, newErr := New(Options{Retry: r})
		if tt.wantErr == "" {
			g.Expect(err).NotTo(HaveOccurred(), tt.name)
			g.Expect(newErr).NotTo(HaveOccurred(), tt.name)
			continue
		}
		g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)), tt.name)
		g.Expect(newErr).To(MatchError(ContainSubstring("retry: "+tt.wantErr)), tt.name)
	}
	_, err := New(Options{})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("retry: maxAttempts")))
}

// TestRetryTunablesTakeTheirDefaults: BaseBackoff and MaxWait, which no SyncJob sets, take
// DefaultBaseBackoff (capped by MaxBackoff) and DefaultMaxWait when left zero.
func TestRetryTunablesTakeTheirDefaults(t *testing.T) {
	g := NewWithT(t)
	r := testRetry.withTunables()
	g.Expect(r.BaseBackoff).To(Equal(DefaultBaseBackoff))
	g.Expect(r.MaxWait).To(Equal(DefaultMaxWait))
	g.Expect(r.MaxAttempts).To(Equal(testRetry.MaxAttempts))
	r = RetryPolicy{MaxAttempts: 2, MaxBackoff: 100 * time.Millisecond, RequestTimeout: time.Second}.withTunables()
	g.Expect(r.BaseBackoff).To(Equal(100 * time.Millisecond))
}
