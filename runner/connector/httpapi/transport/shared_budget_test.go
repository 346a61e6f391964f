package transport

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestWaitBudgetIsSharedByTheRunsClients: two clients (a run's source and sink) sharing a
// WaitBudget spend one bound between them, concurrently: once their waits together reach
// it, the next request of either fails with its last answer (the reason still names the
// HTTP status).
func TestWaitBudgetIsSharedByTheRunsClients(t *testing.T) {
	g := NewWithT(t)
	budget, err := NewWaitBudget(10 * time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
	unavailable := func() *scripted {
		return &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, map[string]string{"Retry-After": "60"}, `{"message":"maintenance"}`)}}
	}
	opts := Options{Retry: withBudget(time.Hour), Budget: budget} // the client's own bound no longer applies
	srcSrv, src, _ := serve(t, unavailable(), opts)
	sinkSrv, sink, _ := serve(t, unavailable(), opts)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []struct {
		c   *Client
		url string
	}{{src, srcSrv.URL}, {sink, sinkSrv.URL}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.c.Do(context.Background(), Request{URL: c.url})
		}()
	}
	wg.Wait()
	g.Expect(budget.Waited()).To(Equal(10*time.Minute), "ten waits of 60s between both clients, not ten each")
	for _, err := range errs {
		var se *StatusError
		g.Expect(errors.As(err, &se)).To(BeTrue(), "%v", err)
		g.Expect(se.Reason()).To(Equal("HTTP503"))
		g.Expect(se.Message).To(ContainSubstring("retry waits would pass maxTotalWait 10m0s"))
	}
}

// TestWaitBudgetMustBePositive: a budget of zero is refused, naming maxTotalWait.
func TestWaitBudgetMustBePositive(t *testing.T) {
	g := NewWithT(t)
	_, err := NewWaitBudget(0)
	g.Expect(err).To(MatchError(ContainSubstring("maxTotalWait must be positive")))
}
