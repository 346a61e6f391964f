package transport

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

// TestWaitBudgetChargesEachIntervalOnce: the budget measures the time the run spends
// waiting, not the sum of the waits: a wait costs only the part of its interval that the
// waits taken before do not cover, and a wait refused for passing the budget covers nothing.
func TestWaitBudgetChargesEachIntervalOnce(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	type wait struct{ from, secs int }
	for _, tc := range []struct {
		name   string
		before []wait // taken, in this order
		next   wait
		cost   time.Duration // what next adds to Waited
		fits   bool
	}{
		{"first wait", nil, wait{0, 10}, 10 * time.Second, true},
		{"the same interval again", []wait{{0, 10}}, wait{0, 10}, 0, true},
		{"within the covered one", []wait{{0, 10}}, wait{2, 5}, 0, true},
		{"starts later, ends with it", []wait{{0, 10}}, wait{4, 6}, 0, true},
		{"starts later, outlasts it", []wait{{0, 10}}, wait{4, 10}, 4 * time.Second, true},
		{"starts as it ends", []wait{{0, 10}}, wait{10, 5}, 5 * time.Second, true},
		{"disjoint, after it", []wait{{0, 10}}, wait{30, 5}, 5 * time.Second, true},
		{"spans two taken", []wait{{0, 10}, {20, 5}}, wait{5, 30}, 10 * time.Second, true},
		{"decided before a concurrent one, within it", []wait{{5, 10}}, wait{4, 10}, 0, true},
		{"decided before a concurrent one, outlasts it", []wait{{5, 10}}, wait{4, 20}, 9 * time.Second, true},
		{"zero wait", []wait{{0, 10}}, wait{20, 0}, 0, true},
		{"covered, with the budget spent", []wait{{0, 40}, {40, 20}}, wait{30, 30}, 0, true},
		{"passes the budget by what it adds", []wait{{0, 50}}, wait{45, 20}, 0, false},
		{"fits by what it adds", []wait{{0, 50}}, wait{45, 15}, 10 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			b, err := NewWaitBudget(time.Minute)
			g.Expect(err).NotTo(HaveOccurred())
			for _, w := range tc.before {
				_, ok := b.spend(at(w.from), time.Duration(w.secs)*time.Second)
				g.Expect(ok).To(BeTrue())
			}
			waited := b.Waited()
			note, ok := b.spend(at(tc.next.from), time.Duration(tc.next.secs)*time.Second)
			g.Expect(ok).To(Equal(tc.fits), note)
			g.Expect(b.Waited() - waited).To(Equal(tc.cost))
			if !tc.fits {
				g.Expect(note).To(HavePrefix("retry waits would pass maxTotalWait 1m0s"))
			}
		})
	}

	t.Run("a refused wait covers nothing", func(t *testing.T) {
		g := NewWithT(t)
		b, err := NewWaitBudget(10 * time.Second)
		g.Expect(err).NotTo(HaveOccurred())
		_, ok := b.spend(at(0), 8*time.Second)
		g.Expect(ok).To(BeTrue())
		_, ok = b.spend(at(8), 12*time.Second)
		g.Expect(ok).To(BeFalse(), "8s + 12s pass 10s")
		_, ok = b.spend(at(8), 2*time.Second)
		g.Expect(ok).To(BeTrue(), "[8s, 10s] is not covered by the refused wait")
		g.Expect(b.Waited()).To(Equal(10 * time.Second))
		_, ok = b.spend(at(10), time.Second)
		g.Expect(ok).To(BeFalse(), "the budget is spent")
	})
}

// gateClock is a Clock whose time stands still until the test moves it, and whose Sleep
// reports the wait on arrived and returns once release is closed: every request that
// decides to wait is waiting at the same time, whatever the goroutines' scheduling.
type gateClock struct {
	mu      sync.Mutex
	now     time.Time
	arrived chan time.Duration
	release chan struct{}
}

func (c *gateClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *gateClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *gateClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	select {
	case c.arrived <- d:
	case <-c.release: // released: no one counts arrivals any more
		return nil
	}
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maintenance answers 503 with Retry-After: 10 until the clock reaches until, then 200. Its
// 503s wait until together is reached (nil: no wait), so every request has its answer
// before any of them blocks the client.
type maintenance struct {
	clock    *gateClock
	until    time.Time
	together int

	mu                   sync.Mutex
	arrived              int
	all                  chan struct{}
	unavailable, answers atomic.Int64
}

func (m *maintenance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !m.clock.Now().Before(m.until) {
		m.answers.Add(1)
		ok(`{}`)(w, r)
		return
	}
	m.mu.Lock()
	if m.arrived++; m.arrived == m.together {
		close(m.all)
	}
	m.mu.Unlock()
	select {
	case <-m.all:
	case <-r.Context().Done():
		return
	}
	m.unavailable.Add(1)
	status(503, map[string]string{"Retry-After": "10"}, `{"message":"maintenance"}`)(w, r)
}

// TestConcurrentWaitsChargeTheBudgetOnce: requests that wait at the same time — on their
// client's block, or for the same Retry-After, on one client or on the run's source and
// sink — spend the run's budget once: four waits of 10s side by side take 10s of a 15s
// budget, so every request waits and then succeeds, where a sum (40s) would fail three of
// them with the budget spent.
func TestConcurrentWaitsChargeTheBudgetOnce(t *testing.T) {
	const n = 4
	for _, tc := range []struct {
		name    string
		clients int  // the requests are spread over them, all sharing the budget and clock
		blocked bool // the clients are blocked for 10s by an earlier 503; else each request's first answer is a 503 with Retry-After: 10
	}{
		{"waiting on the client's block", 1, true},
		{"retrying after the same Retry-After", 1, false},
		{"the source and the sink retrying after the same Retry-After", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			budget, err := NewWaitBudget(15 * time.Second)
			g.Expect(err).NotTo(HaveOccurred())
			clock := &gateClock{now: epoch, arrived: make(chan time.Duration), release: make(chan struct{})}
			type target struct {
				c   *Client
				url string
				h   *maintenance
			}
			targets := make([]target, tc.clients)
			for i := range targets {
				h := &maintenance{clock: clock, until: epoch.Add(10 * time.Second), together: n / tc.clients, all: make(chan struct{})}
				srv, c, _ := serve(t, h, Options{Retry: withBudget(time.Hour), Budget: budget, Clock: clock})
				if tc.blocked {
					c.block(epoch.Add(10*time.Second), http.StatusServiceUnavailable)
				}
				targets[i] = target{c, srv.URL, h}
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errs := make([]error, n)
			returned := make(chan int, n)
			var wg sync.WaitGroup
			for i := range n {
				tg := targets[i%tc.clients]
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = tg.c.Do(ctx, Request{URL: tg.url})
					returned <- i
				}()
			}
			// every request either waits (and stays waiting) or fails: n events
			var waits []time.Duration
			for range n {
				select {
				case d := <-clock.arrived:
					waits = append(waits, d)
				case <-returned:
				}
			}
			clock.advance(10 * time.Second)
			close(clock.release)
			wg.Wait()

			for i, err := range errs {
				g.Expect(err).NotTo(HaveOccurred(), "request %d", i)
			}
			g.Expect(waits).To(Equal([]time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}))
			g.Expect(budget.Waited()).To(Equal(10*time.Second), "four waits of the same 10s are 10s of the run's")
			for _, tg := range targets {
				want503 := int64(n / tc.clients)
				if tc.blocked {
					want503 = 0
				}
				g.Expect(tg.h.unavailable.Load()).To(Equal(want503))
				g.Expect(tg.h.answers.Load()).To(Equal(int64(n/tc.clients)), "each request answered once the waits end")
			}
		})
	}
}

// TestSequentialWaitsStillSpendTheBudget: waits one after the other, as the clock moves on,
// do not overlap and each costs its whole length: a request retrying a 503 every 4s on a
// budget of 10s waits twice, and the third wait (12s in all) fails it with the budget
// spent.
func TestSequentialWaitsStillSpendTheBudget(t *testing.T) {
	g := NewWithT(t)
	budget, err := NewWaitBudget(10 * time.Second)
	g.Expect(err).NotTo(HaveOccurred())
	clock := transporttest.NewClock(epoch)
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, map[string]string{"Retry-After": "4"}, `{"message":"maintenance"}`)}}
	srv, c, _ := serve(t, h, Options{Retry: withBudget(time.Hour), Budget: budget, Clock: clock})

	_, err = c.Do(context.Background(), Request{URL: srv.URL})
	var se *StatusError
	g.Expect(err).To(BeAssignableToTypeOf(se))
	se = err.(*StatusError)
	g.Expect(se.Reason()).To(Equal("HTTP503"))
	g.Expect(se.Message).To(ContainSubstring("retry waits would pass maxTotalWait 10s (waited 8s, next 4s)"))
	g.Expect(clock.Sleeps()).To(Equal([]time.Duration{4 * time.Second, 4 * time.Second}))
	g.Expect(budget.Waited()).To(Equal(8 * time.Second))
	g.Expect(h.calls.Load()).To(Equal(int64(3)))
}
