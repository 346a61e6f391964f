package demoapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// Faults says how a server misbehaves. The zero value is a well-behaved, unlimited server.
// Faults apply to API requests only, never to /admin/ requests.
type Faults struct {
	// RatePerSecond is the sustained request rate of a token bucket; 0 means unlimited.
	// A request without a token is answered 429 with Retry-After.
	RatePerSecond float64
	// Burst is the bucket's size; 0 means max(1, ceil(RatePerSecond)).
	Burst int
	// QuotaRequests, when positive, lets that many requests through and then answers every
	// request 429 until the quota resets: after QuotaReset, or when ResetQuota is called
	// (QuotaReset 0: only then). This is the seed article's "the API answers 429 after 500
	// invoices" (with page size 100, QuotaRequests 5).
	QuotaRequests int
	// QuotaReset is how long after exhaustion the quota renews itself; 0 means never.
	QuotaReset time.Duration
	// FailEvery, when positive, answers every k-th admitted request with FailStatus.
	FailEvery int
	// FailProbability answers an admitted request with FailStatus with this probability,
	// drawn from the server's seeded random source.
	FailProbability float64
	// FailStatus of injected failures; 0 means 503.
	FailStatus int
	// FailAfterApply makes injected failures happen after the request took effect: the
	// write is applied, the answer is still FailStatus (a lost response).
	FailAfterApply bool
	// Latency is added to every API request before it is handled.
	Latency time.Duration
}

// Stats counts what a server did. API requests only; /admin/ requests are not counted.
type Stats struct {
	// Requests received.
	Requests int64 `json:"requests"`
	// RateLimited is the number of 429 answers (token bucket and quota).
	RateLimited int64 `json:"rateLimited"`
	// Injected is the number of injected FailStatus answers.
	Injected int64 `json:"injected"`
	// Unauthorized is the number of 401 answers.
	Unauthorized int64 `json:"unauthorized"`
	// Records returned by list endpoints (billing) or written, created or updated (CRM).
	Records int64 `json:"records"`
	// Created, Updated, Unchanged, Stale and Rejected count CRM record writes by outcome
	// (Stale: refused with 409; Rejected: refused with 400 or a multiple-match conflict).
	Created   int64 `json:"created,omitempty"`
	Updated   int64 `json:"updated,omitempty"`
	Unchanged int64 `json:"unchanged,omitempty"`
	Stale     int64 `json:"stale,omitempty"`
	Rejected  int64 `json:"rejected,omitempty"`
}

// guard enforces Faults and authentication in front of a server's API handler and keeps
// its Stats.
type guard struct {
	clock  func() time.Time
	apiKey string
	log    logr.Logger

	mu          sync.Mutex
	faults      Faults
	limiter     *rate.Limiter
	admitted    int
	exhaustedAt time.Time
	seq         int64
	rng         *rand.Rand
	stats       Stats
}

func newGuard(clock func() time.Time, apiKey string, seed int64, f Faults, log logr.Logger) *guard {
	g := &guard{clock: clock, apiKey: apiKey, log: log, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
	g.setFaults(f)
	return g
}

// setFaults replaces the fault configuration; the bucket starts full and the quota afresh.
func (g *guard) setFaults(f Faults) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = f
	g.limiter = nil
	if f.RatePerSecond > 0 {
		burst := f.Burst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(f.RatePerSecond)))
		}
		g.limiter = rate.NewLimiter(rate.Limit(f.RatePerSecond), burst)
	}
	g.admitted, g.exhaustedAt, g.seq = 0, time.Time{}, 0
}

func (g *guard) getFaults() Faults {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.faults
}

// resetQuota renews the QuotaRequests quota.
func (g *guard) resetQuota() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitted, g.exhaustedAt = 0, time.Time{}
}

func (g *guard) snapshot() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// count applies fn to the stats under the lock.
func (g *guard) count(fn func(*Stats)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(&g.stats)
}

// verdict is the guard's decision on one request.
type verdict struct {
	status     int // 0: admitted
	retryAfter int
	fail       bool // admitted but answered with an injected failure
	failStatus int
	after      bool
	headers    map[string]string
}

func (g *guard) decide() verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock()
	f := g.faults
	v := verdict{headers: map[string]string{}}
	if f.QuotaRequests > 0 && g.admitted >= f.QuotaRequests {
		if f.QuotaReset > 0 && !now.Before(g.exhaustedAt.Add(f.QuotaReset)) {
			g.admitted, g.exhaustedAt = 0, time.Time{}
		} else {
			wait := 1
			if f.QuotaReset > 0 {
				wait = ceilSeconds(g.exhaustedAt.Add(f.QuotaReset).Sub(now))
			}
			g.stats.RateLimited++
			return verdict{status: http.StatusTooManyRequests, retryAfter: wait}
		}
	}
	if g.limiter != nil {
		if !g.limiter.AllowN(now, 1) {
			missing := 1 - g.limiter.TokensAt(now)
			wait := time.Duration(missing / float64(g.limiter.Limit()) * float64(time.Second))
			g.stats.RateLimited++
			return verdict{status: http.StatusTooManyRequests, retryAfter: ceilSeconds(wait),
				headers: map[string]string{
					"RateLimit-Limit":     strconv.Itoa(g.limiter.Burst()),
					"RateLimit-Remaining": "0",
					"RateLimit-Reset":     strconv.Itoa(ceilSeconds(wait)),
				}}
		}
		tokens := g.limiter.TokensAt(now)
		full := (float64(g.limiter.Burst()) - tokens) / float64(g.limiter.Limit())
		v.headers["RateLimit-Limit"] = strconv.Itoa(g.limiter.Burst())
		v.headers["RateLimit-Remaining"] = strconv.Itoa(int(math.Max(0, math.Floor(tokens))))
		v.headers["RateLimit-Reset"] = strconv.Itoa(ceilSeconds(time.Duration(full * float64(time.Second))))
	}
	if f.QuotaRequests > 0 {
		g.admitted++
		if g.admitted == f.QuotaRequests {
			g.exhaustedAt = now
		}
	}
	g.seq++
	if (f.FailEvery > 0 && g.seq%int64(f.FailEvery) == 0) ||
		(f.FailProbability > 0 && g.rng.Float64() < f.FailProbability) {
		v.fail, v.after = true, f.FailAfterApply
		v.failStatus = f.FailStatus
		if v.failStatus == 0 {
			v.failStatus = http.StatusServiceUnavailable
		}
		g.stats.Injected++
	}
	return v
}

// ceilSeconds rounds d up to whole seconds, at least 1 (the Retry-After unit).
func ceilSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(1, s)
}

// wrap puts the guard in front of next.
func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.count(func(s *Stats) { s.Requests++ })
		if g.apiKey != "" && !g.authorized(r) {
			g.count(func(s *Stats) { s.Unauthorized++ })
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong credentials")
			return
		}
		if d := g.getFaults().Latency; d > 0 {
			if err := sleep(r.Context(), d); err != nil {
				return
			}
		}
		v := g.decide()
		for k, val := range v.headers {
			w.Header().Set(k, val)
		}
		if v.status != 0 {
			w.Header().Set("Retry-After", strconv.Itoa(v.retryAfter))
			writeError(w, v.status, "rate_limited", fmt.Sprintf("rate limit exceeded, retry after %d s", v.retryAfter))
			g.log.V(1).Info("rate limited", "method", r.Method, "path", r.URL.Path, "retryAfter", v.retryAfter)
			return
		}
		if v.fail {
			if v.after {
				next.ServeHTTP(discardWriter{h: http.Header{}}, r)
			}
			writeError(w, v.failStatus, "unavailable", "injected failure")
			g.log.V(1).Info("injected failure", "method", r.Method, "path", r.URL.Path, "status", v.failStatus, "afterApply", v.after)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized accepts "Authorization: Bearer <key>" or "X-API-Key: <key>".
func (g *guard) authorized(r *http.Request) bool {
	got := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		got = strings.TrimPrefix(auth, "Bearer ")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(g.apiKey)) == 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discardWriter swallows a response (FailAfterApply).
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// apiError is the body of every error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// faultsWire is the JSON form of Faults for the admin endpoints (durations as Go
// duration strings such as "1.5s").
type faultsWire struct {
	RatePerSecond   float64 `json:"ratePerSecond"`
	Burst           int     `json:"burst"`
	QuotaRequests   int     `json:"quotaRequests"`
	QuotaReset      string  `json:"quotaReset"`
	FailEvery       int     `json:"failEvery"`
	FailProbability float64 `json:"failProbability"`
	FailStatus      int     `json:"failStatus"`
	FailAfterApply  bool    `json:"failAfterApply"`
	Latency         string  `json:"latency"`
}

func faultsToWire(f Faults) faultsWire {
	return faultsWire{
		RatePerSecond: f.RatePerSecond, Burst: f.Burst, QuotaRequests: f.QuotaRequests,
		QuotaReset: f.QuotaReset.String(), FailEvery: f.FailEvery, FailProbability: f.FailProbability,
		FailStatus: f.FailStatus, FailAfterApply: f.FailAfterApply, Latency: f.Latency.String(),
	}
}

func faultsFromWire(w faultsWire) (Faults, error) {
	f := Faults{
		RatePerSecond: w.RatePerSecond, Burst: w.Burst, QuotaRequests: w.QuotaRequests,
		FailEvery: w.FailEvery, FailProbability: w.FailProbability, FailStatus: w.FailStatus,
		FailAfterApply: w.FailAfterApply,
	}
	var err error
	if w.QuotaReset != "" {
		if f.QuotaReset, err = time.ParseDuration(w.QuotaReset); err != nil {
			return Faults{}, fmt.Errorf("quotaReset: %w", err)
		}
	}
	if w.Latency != "" {
		if f.Latency, err = time.ParseDuration(w.Latency); err != nil {
			return Faults{}, fmt.Errorf("latency: %w", err)
		}
	}
	if f.FailStatus != 0 && (f.FailStatus < 500 || f.FailStatus > 599) {
		return Faults{}, fmt.Errorf("failStatus %d is not a 5xx status", f.FailStatus)
	}
	return f, nil
}

// adminRoutes registers the admin endpoints every server has: stats, faults and quota.
func (g *guard) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.snapshot())
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, faultsToWire(g.getFaults()))
	})
	mux.HandleFunc("PUT /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var fw faultsWire
		if err := decodeStrict(r, &fw); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		f, err := faultsFromWire(fw)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		g.setFaults(f)
		writeJSON(w, http.StatusOK, faultsToWire(f))
	})
	mux.HandleFunc("POST /admin/quota/reset", func(w http.ResponseWriter, r *http.Request) {
		g.resetQuota()
		w.WriteHeader(http.StatusNoContent)
	})
}

// decodeStrict reads a JSON body into v, refusing unknown fields.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}
