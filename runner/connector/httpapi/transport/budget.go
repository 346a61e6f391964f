package transport

import (
	"fmt"
	"sync"
	"time"
)

// WaitBudget bounds the time the run spends waiting before retries (backoff, Retry-After,
// rate-limit resets; not the token bucket) over every request of every client that shares
// it: one run's source, sink and lookups. It measures wall-clock time, not a sum: waits
// that overlap (concurrent requests waiting on one block of their client, or for the same
// Retry-After) count once. It is safe for concurrent use; the clients sharing it must share
// a Clock.
type WaitBudget struct {
	max time.Duration

	mu     sync.Mutex
	waited time.Duration
	// coveredUntil is the latest end of the waits charged so far (zero: none); a wait
	// charges only its part after it.
	coveredUntil time.Time
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

// Waited is the time covered by the waits taken so far (overlapping waits count once).
func (b *WaitBudget) Waited() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waited
}

// spend takes from the budget a wait of d starting at from (the clock's time when the wait
// was decided), or reports, without taking it, why it does not fit. The wait costs only the
// part of [from, from+d] that the waits taken before do not cover (see uncovered).
func (b *WaitBudget) spend(from time.Time, d time.Duration) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cost := uncovered(b.coveredUntil, from, d)
	if b.waited+cost > b.max {
		return fmt.Sprintf("retry waits would pass maxTotalWait %s (waited %s, next %s)",
			b.max, b.waited.Round(time.Second), d.Round(time.Second)), false
	}
	b.waited += cost
	if end := from.Add(d); end.After(b.coveredUntil) {
		b.coveredUntil = end
	}
	return "", true
}

// uncovered is the part of the wait [from, from+d] after coveredUntil, the latest end of
// the waits charged before: a wait within them costs nothing, one that outlasts them costs
// what it adds, one that starts after them costs all of it. Waits are charged when decided,
// so they come in the order of their starts, except for concurrent requests deciding within
// moments of each other; for a wait that starts before an earlier-charged one, the part
// before coveredUntil counts as covered (it overlaps, but for those moments).
func uncovered(coveredUntil, from time.Time, d time.Duration) time.Duration {
	start := from
	if coveredUntil.After(start) {
		start = coveredUntil
	}
	return max(from.Add(d).Sub(start), 0)
}
