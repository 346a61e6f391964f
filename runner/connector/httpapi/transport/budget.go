package transport

import (
	"fmt"
	"sync"
	"time"
)

// WaitBudget bounds the waits before retries (backoff, Retry-After, rate-limit resets; not
// the token bucket) summed over every request of every client that shares it: one run's
// source, sink and lookups. It is safe for concurrent use.
type WaitBudget struct {
	max time.Duration

	mu     sync.Mutex
	waited time.Duration
}

// NewWaitBudget makes a budget of max, which must be positive.
func NewWaitBudget(max time.Duration) (*WaitBudget, error) {
	if max <= 0 {
		return nil, fmt.Errorf("maxTotalWait must be positive, not %s", max)
	}
	return &WaitBudget{max: max}, nil
}

// Max is the budget's bound.
func (b *WaitBudget) Max() time.Duration { return b.max }

// Waited is the sum of the waits taken so far.
func (b *WaitBudget) Waited() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waited
}

// spend takes d from the budget, or reports, without taking it, why it does not fit.
func (b *WaitBudget) spend(d time.Duration) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waited+d > b.max {
		return fmt.Sprintf("retry waits would pass maxTotalWait %s (waited %s, next %s)",
			b.max, b.waited.Round(time.Second), d.Round(time.Second)), false
	}
	b.waited += d
	return "", true
}
