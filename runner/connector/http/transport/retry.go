package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Retry defaults, as in the CRD schema (BaseBackoff and MaxWait are not in the spec).
const (
	DefaultMaxAttempts    = 6
	DefaultBaseBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxWait        = 15 * time.Minute
)

// Retry bounds the attempts of one request. Only 429, 5xx and network errors are retried;
// other statuses are answered at once. The zero value takes the defaults.
type Retry struct {
	// MaxAttempts per request, the first included.
	MaxAttempts int
	// BaseBackoff is the wait before the first retry when the server gave no hint; it
	// doubles at each retry up to MaxBackoff.
	BaseBackoff time.Duration
	// MaxBackoff caps the backoff. The jittered wait is drawn from [cap/2, cap], so it
	// never exceeds MaxBackoff.
	MaxBackoff time.Duration
	// RequestTimeout bounds one attempt, reading the body included.
	RequestTimeout time.Duration
	// MaxWait is the longest server-requested wait (Retry-After, a rate-limit reset) the
	// client sleeps through. A longer one fails the request at once (a 429 or an exhausted
	// quota as connector.ErrRateLimited) rather than holding the run for hours.
	MaxWait time.Duration
}

// RetryFromSpec turns spec.*.retry into a Retry (unset fields take the defaults).
func RetryFromSpec(spec v1alpha1.HTTPRetry) Retry {
	r := Retry{MaxAttempts: int(spec.MaxAttempts)}
	if spec.MaxBackoff != nil {
		r.MaxBackoff = spec.MaxBackoff.Duration
	}
	if spec.RequestTimeout != nil {
		r.RequestTimeout = spec.RequestTimeout.Duration
	}
	return r.withDefaults()
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.BaseBackoff <= 0 {
		r.BaseBackoff = DefaultBaseBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.BaseBackoff > r.MaxBackoff {
		r.BaseBackoff = r.MaxBackoff
	}
	if r.RequestTimeout <= 0 {
		r.RequestTimeout = DefaultRequestTimeout
	}
	if r.MaxWait <= 0 {
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
func (r Retry) backoff(n int, jitter Jitter) time.Duration {
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

// LimiterFromSpec builds the run's token bucket from spec.rateLimit; nil spec is no limit.
// One limiter is shared by the source's and the sink's clients, which must also share a
// Clock (the limiter is driven by the times the clients pass it).
func LimiterFromSpec(spec *v1alpha1.RateLimitSpec) (*rate.Limiter, error) {
	if spec == nil {
		return nil, nil
	}
	rps := spec.RequestsPerSecond.AsApproximateFloat64()
	if rps <= 0 {
		return nil, fmt.Errorf("spec.rateLimit.requestsPerSecond must be positive, not %s", spec.RequestsPerSecond.String())
	}
	burst := int(spec.Burst)
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(rps), burst), nil
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
