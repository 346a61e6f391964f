package transport

import (
	"context"
	"time"
)

// Clock tells the time and waits. Every wait of the client (backoff, Retry-After, rate-limit
// resets, the token bucket) goes through it, so tests can use a fake that never sleeps.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Sleep waits d, or returns the context's error as soon as ctx is done. A d <= 0
	// returns at once (nil unless ctx is already done).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d on a timer or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
