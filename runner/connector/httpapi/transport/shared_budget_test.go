package transport

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
)

// TestWaitBudgetIsSharedByTheRunsClients: two clients (a run's source and sink) sharing a
// WaitBudget (and the run's clock) spend one bound between them: once the source's waits
// reach it, the sink's next request fails at its first wait with its last answer (the
// reason still names the HTTP status). Waits at the same time are counted once
// (TestConcurrentWaitsChargeTheBudgetOnce); these come one after the other.
func TestWaitBudgetIsSharedByTheRunsClients(t *testing.T) {
	g := NewWithT(t)
	budget, err := NewWaitBudget(10 * time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
	unavailable := func() *scripted {
		return &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, map[string]string{"Retry-After": "60"}, `{"message":"maintenance"}`)}}
	}
	clock := transporttest.NewClock(epoch)
	opts := Options{Retry: withBudget(time.Hour), Budget: budget, Clock: clock} // the client's own bound no longer applies
	src, sink := unavailable(), unavailable()
	srcSrv, srcClient, _ := serve(t, src, opts)
	sinkSrv, sinkClient, _ := serve(t, sink, opts)

	for _, c := range []struct {
		c   *Client
		url string
	}{{srcClient, srcSrv.URL}, {sinkClient, sinkSrv.URL}} {
		_, err := c.c.Do(context.Background(), Request{URL: c.url})
		var se *StatusError
		g.Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
		g.Expect(se.Reason()).To(Equal("HTTP503"))
		g.Expect(se.Message).To(ContainSubstring("retry waits would pass maxTotalWait 10m0s (waited 10m0s, next 1m0s)"))
	}
	g.Expect(src.calls.Load()).To(Equal(int64(11)), "ten waits of 60s, then the budget is spent")
	g.Expect(sink.calls.Load()).To(Equal(int64(1)), "the sink has nothing left to wait")
	g.Expect(budget.Waited()).To(Equal(10 * time.Minute))
	g.Expect(clock.Sleeps()).To(HaveLen(10))
}

// TestWaitBudgetMustBePositive: a budget of zero is refused, naming maxTotalWait.
func TestWaitBudgetMustBePositive(t *testing.T) {
	g := NewWithT(t)
	_, err := NewWaitBudget(0)
	g.Expect(err).To(MatchError(ContainSubstring("maxTotalWait must be positive")))
}
