package kubectlsyncjob

import (
	"context"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// withDeadlineLimiter returns a copy of cfg whose clients share one rate limiter (the one
// cfg names, or client-go's token bucket at cfg's QPS and Burst) in which running out of
// time is the context's error. client-go's limiter refuses at once, with the context still
// live, a wait that would end after the context's deadline; every wait loop of the plugin
// tells a deadline that passed as --timeout, and must not report that refusal as an API
// error. A config with client-side limiting turned off (QPS < 0) is returned as it is.
func withDeadlineLimiter(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	l := cfg.RateLimiter
	if l == nil {
		qps, burst := cfg.QPS, cfg.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		if qps < 0 {
			return cfg
		}
		l = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	}
	cfg.RateLimiter = deadlineLimiter{l}
	return cfg
}

// deadlineLimiter is a rate limiter whose Wait, when the token would come after the
// context's deadline, lasts until the deadline and returns the context's error.
type deadlineLimiter struct{ flowcontrol.RateLimiter }

// Wait waits for a token; see deadlineLimiter.
func (l deadlineLimiter) Wait(ctx context.Context) error {
	err := l.RateLimiter.Wait(ctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		return err
	}
	// The limiter refused because the token would come too late: it is the deadline.
	<-ctx.Done()
	return ctx.Err()
}
