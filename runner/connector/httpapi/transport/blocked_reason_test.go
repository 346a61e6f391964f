package transport

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestBlockedRequestFailsAsTheAnswerThatBlocked: a request that finds its client told to
// wait (by another request's answer) and cannot wait that long — the run's retry budget
// is spent, or the wait passes maxWait — fails as that answer: after a 503's Retry-After
// with status 503 (reason HTTP503, not a rate limit), after a quota (a 429) as
// connector.ErrRateLimited. Which of two concurrent requests spends the budget's last
// wait no longer changes the run's reason.
func TestBlockedRequestFailsAsTheAnswerThatBlocked(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		wait        time.Duration
		reason      string
		rateLimited bool
	}{
		{"503, budget spent", http.StatusServiceUnavailable, 30 * time.Second, "HTTP503", false},
		{"503, longer than maxWait", http.StatusServiceUnavailable, 2 * time.Hour, "HTTP503", false},
		{"429, budget spent", http.StatusTooManyRequests, 30 * time.Second, "RateLimited", true},
		{"429, longer than maxWait", http.StatusTooManyRequests, 2 * time.Hour, "RateLimited", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			h := &scripted{answers: []func(http.ResponseWriter, *http.Request){ok(`{}`)}}
			srv, c, clock := serve(t, h, Options{Retry: withBudget(time.Minute)})
			if _, ok := c.spend(clock.Now().Add(-time.Minute), time.Minute); !ok { // the budget went to the run's earlier waits
				t.Fatal("the budget did not hold a minute")
			}
			c.block(clock.Now().Add(tc.wait), tc.status)

			_, err := c.Do(context.Background(), Request{URL: srv.URL + "/invoices"})
			g.Expect(err).To(HaveOccurred())
			var r interface{ Reason() string }
			if tc.rateLimited {
				g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeTrue(), "%v", err)
			} else {
				g.Expect(errors.As(err, &r)).To(BeTrue(), "%v", err)
				g.Expect(r.Reason()).To(Equal(tc.reason))
				g.Expect(errors.Is(err, connector.ErrRateLimited)).To(BeFalse(), "%v", err)
				g.Expect(err.Error()).To(ContainSubstring("/invoices: 503 Service Unavailable: the server asked to wait"))
			}
			g.Expect(h.calls.Load()).To(BeZero(), "nothing sent")
		})
	}
}
