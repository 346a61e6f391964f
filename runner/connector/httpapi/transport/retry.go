package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Tunables of the retry policy that are not part of a SyncJob: a RetryPolicy leaving them
// zero takes these.
const (
	// DefaultBaseBackoff is the first retry's wait when the server gave no hint.
	DefaultBaseBackoff = 500 * time.Millisecond
	// DefaultMaxWait is the longest server-requested wait the client sleeps through.
	DefaultMaxWait = 15 * time.Minute
)

// RetryPolicy bounds the attempts of one request. Only 429, 5xx and network errors are
// retried; other statuses are answered at once. MaxAttempts, MaxBackoff and RequestTimeout
// must be set (Validate); BaseBackoff and MaxWait may be left zero.
type RetryPolicy struct {
	// MaxAttempts per request, the first included; at least 1.
	MaxAttempts int
	// BaseBackoff is the wait before the first retry when the server gave no hint; it
	// doubles at each retry up to MaxBackoff. Zero is DefaultBaseBackoff (capped by
	// MaxBackoff).
	BaseBackoff time.Duration
	// MaxBackoff caps the backoff; positive. The jittered wait is drawn from [cap/2, cap],
	// so it never exceeds MaxBackoff.
	MaxBackoff time.Duration
	// RequestTimeout bounds one attempt, reading the body included; positive.
	RequestTimeout time.Duration
	// MaxWait is the longest server-requested wait (Retry-After, a rate-limit reset) the
	// client sleeps through. A longer one fails the request at once (a 429 or an exhausted
	// quota as connector.ErrRateLimited) rather than holding the run for hours. Zero is
	// DefaultMaxWait.
	MaxWait time.Duration
	// MaxTotalWait bounds the time spent waiting before retries (backoff, Retry-After,
	// rate-limit resets; not the token bucket) by all the requests of the client, when the
	// client has no shared Options.Budget (a run shares one between its clients): waits that
	// overlap count once (see WaitBudget), and a request whose next wait would pass it fails
	// at once with the last answer. Positive.
	MaxTotalWait time.Duration
}

// Validate reports the first field of the policy that is missing or out of range, by name.
func (r RetryPolicy) Validate() error {
	switch {
	case r.MaxAttempts < 1:
		return fmt.Errorf("maxAttempts must be at least 1, not %d", r.MaxAttempts)
	case r.MaxBackoff <= 0:
		return fmt.Errorf("maxBackoff must be positive, not %s", r.MaxBackoff)
	case r.RequestTimeout <= 0:
		return fmt.Errorf("requestTimeout must be positive, not %s", r.RequestTimeout)
	case r.BaseBackoff < 0:
		return fmt.Errorf("baseBackoff must not be negative, not %s", r.BaseBackoff)
	case r.MaxWait < 0:
		return fmt.Errorf("maxWait must not be negative, not %s", r.MaxWait)
	case r.MaxTotalWait <= 0:
		return fmt.Errorf("maxTotalWait must be positive, not %s", r.MaxTotalWait)
	}
	return nil
}

// withTunables fills the tunables left zero; the policy is valid.
func (r RetryPolicy) withTunables() RetryPolicy {
	if r.BaseBackoff == 0 {
		r.BaseBackoff = DefaultBaseBackoff
	}
	if r.BaseBackoff > r.MaxBackoff {
		r.BaseBackoff = r.MaxBackoff
	}
	if r.MaxWait == 0 {
		r.MaxWait = DefaultMaxWait
	}
	return r
}

// Jitter returns a random duration in [0, max); max > 0.
type Jitter func(max time.Duration) time.Duration

// RandomJitter is the default Jitter.
func RandomJitter(max time.Duration) time.Duration { return rand.N(max) }

// backoff is the wait before retry n (1 = the first retry) when the server gave no hint:
// the capped exponential c = min(base·2^(n-1), max), less a jitter of up to c/2.
func (r RetryPolicy) backoff(n int, jitter Jitter) time.Duration {
	c := r.MaxBackoff
	if n-1 < 62 {
		if d := r.BaseBackoff << (n - 1); d > 0 && d < c {
			c = d
		}
	}
	if half := c / 2; half > 0 {
		j := jitter(half)
		if j < 0 || j >= half {
			j = 0
		}
		c -= j
	}
	return c
}

// RateLimit is a client-side token bucket: RequestsPerSecond on average, Burst at once.
type RateLimit struct {
	// RequestsPerSecond allowed on average; positive.
	RequestsPerSecond float64
	// Burst of requests allowed at once; at least 1.
	Burst int
}

// Validate reports the first field of the rate limit that is out of range, by name.
func (l RateLimit) Validate() error {
	if !(l.RequestsPerSecond > 0) || math.IsInf(l.RequestsPerSecond, 0) {
		return fmt.Errorf("requestsPerSecond must be positive, not %v", l.RequestsPerSecond)
	}
	if l.Burst < 1 {
		return fmt.Errorf("burst must be at least 1, not %d", l.Burst)
	}
	return nil
}

// NewLimiter builds a run's token bucket. One limiter is shared by the source's and the
// sink's clients, which must also share a Clock (the limiter is driven by the times the
// clients pass it).
func NewLimiter(l RateLimit) (*rate.Limiter, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return rate.NewLimiter(rate.Limit(l.RequestsPerSecond), l.Burst), nil
}

// retryAfter reads a Retry-After header: delta-seconds or an HTTP-date (relative to now).
// A date in the past is a zero wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0, true
		}
		return secondsDuration(secs), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// Epoch thresholds of the rate-limit reset heuristic.
const (
	epochSecondsFrom = 1e9  // 2001-09-09 as unix seconds; 31 years as a delta
	epochMillisFrom  = 1e12 // 2001-09-09 as unix milliseconds
)

// rateLimitReset reads RateLimit-Remaining / X-RateLimit-Remaining and RateLimit-Reset /
// X-RateLimit-Reset (the IETF names first). It returns when the quota resets and whether
// it is exhausted (remaining is 0).
//
// Reset comes in two forms: delta-seconds (the IETF draft) and a unix epoch (GitHub's
// X-RateLimit-Reset). A value of at least 1e12 is read as unix milliseconds, at least 1e9
// as unix seconds (no API asks for a 31-year wait), and anything smaller as seconds from
// now. A reset in the past is now.
func rateLimitReset(h http.Header, now time.Time) (reset time.Time, exhausted, ok bool) {
	rem := firstHeader(h, "RateLimit-Remaining", "X-RateLimit-Remaining")
	exhausted = rem != "" && strings.TrimSpace(rem) == "0"
	v := strings.TrimSpace(firstHeader(h, "RateLimit-Reset", "X-RateLimit-Reset"))
	if v == "" {
		return time.Time{}, exhausted, false
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return time.Time{}, exhausted, false
	}
	switch {
	case n >= epochMillisFrom:
		reset = time.UnixMilli(int64(n))
	case n >= epochSecondsFrom:
		reset = time.Unix(int64(n), int64((n-float64(int64(n)))*1e9))
	default:
		reset = now.Add(secondsDuration(n))
	}
	if reset.Before(now) {
		reset = now
	}
	return reset, exhausted, true
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func secondsDuration(s float64) time.Duration {
	if s > float64(1<<62)/float64(time.Second) {
		return time.Duration(1 << 62)
	}
	return time.Duration(s * float64(time.Second))
}

// retryableNetErr reports whether a transport error is worth another attempt: timeouts,
// refused or reset connections, connections closed mid-answer. TLS verification failures,
// unknown hosts and malformed requests are not. For a request that is not idempotent only
// errors before the request could reach the server (a failed dial) are retried.
func retryableNetErr(err error, notIdempotent bool) bool {
	var opErr *net.OpError
	if notIdempotent {
		return errors.As(err, &opErr) && opErr.Op == "dial" && !isPermanent(err)
	}
	if isPermanent(err) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &opErr),
		errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}

// isPermanent recognises errors another attempt cannot fix.
func isPermanent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &header)
}
