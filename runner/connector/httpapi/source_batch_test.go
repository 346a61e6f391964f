package httpapi

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport/transporttest"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// TestFetchByIDsInBatches: with getByIdsUrl, N ids cost ceil(N/getByIdsMax) requests to
// the demo billing API's batch read (which refuses more than its own maximum), every
// record found is the one the per-id endpoint returns, and ids the API does not hold are
// absent, as a 404 of getByIdUrl makes them; an answer that is not filtered by the ids
// fails the fetch.
func TestFetchByIDsInBatches(t *testing.T) {
	start := time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC)
	b := demoapi.NewBilling(demoapi.BillingOptions{Seed: 5, BatchMaxIDs: 40,
		Data: demoapi.BillingData{Invoices: 250, Customers: 10, Start: start, Spread: time.Hour}})
	srv := httptest.NewServer(b)
	defer srv.Close()
	var want []string
	for _, inv := range b.Invoices() {
		want = append(want, inv.ID)
	}
	asked := append(append([]string(nil), want[:230]...), "missing-1", "missing-2", want[0]) // 232 distinct ids

	for _, tc := range []struct {
		max, requests int
	}{{40, 6}, {7, 34}, {1, 232}} {
		g := NewWithT(t)
		cfg := sourceConfig(srv.URL + "/invoices")
		cfg.RecordsPath = "data"
		cfg.GetByIDsURL, cfg.GetByIDsMax = srv.URL+"/invoices/batch?ids={ids}", tc.max
		src, err := NewSource(cfg, newClient(), SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		before := b.Stats().Requests
		recs, err := src.FetchByIDs(t.Context(), asked)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(b.Stats().Requests-before).To(BeNumerically("==", tc.requests), "max %d", tc.max)
		g.Expect(ids(recs)).To(ConsistOf(want[:230]), "max %d: the missing ids are absent, each found id once", tc.max)

		perID := sourceConfig(srv.URL + "/invoices")
		perID.RecordsPath, perID.GetByIDURL = "data", srv.URL+"/invoices/{id}"
		one, err := NewSource(perID, newClient(), SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		single, err := one.FetchByIDs(t.Context(), []string{want[3], "missing-1"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(single).To(HaveLen(1))
		g.Expect(recs).To(ContainElement(single[0]), "the batch answer's record equals the per-id answer's")
	}

	// More ids than the API takes in one request is the API's 400, not a silent cut.
	g := NewWithT(t)
	cfg := sourceConfig(srv.URL + "/invoices")
	cfg.RecordsPath = "data"
	cfg.GetByIDsURL, cfg.GetByIDsMax = srv.URL+"/invoices/batch?ids={ids}", 41
	src, err := NewSource(cfg, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = src.FetchByIDs(t.Context(), want[:41])
	g.Expect(err).To(MatchError(ContainSubstring("400")))
	g.Expect(err).To(MatchError(ContainSubstring("fetch 41 records by id")))

	// An API that ignores the ids parameter (here a wrong name) answers a list page: that
	// fails the fetch instead of passing the ids it lacks for gone.
	cfg.GetByIDsURL, cfg.GetByIDsMax = srv.URL+"/invoices?id={ids}", 10
	src, err = NewSource(cfg, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = src.FetchByIDs(t.Context(), []string{want[200], want[201]})
	g.Expect(err).To(MatchError(ContainSubstring("does not filter by the ids of getByIdsUrl")))
}

// TestFetchByIDsInBatchesUnderTheRateLimit: the batch read is rate limited like every
// endpoint of the API; the client paces its batch reads by the API's RateLimit headers (no
// 429) and returns every record.
func TestFetchByIDsInBatchesUnderTheRateLimit(t *testing.T) {
	g := NewWithT(t)
	clock := transporttest.NewClock(t0)
	b := demoapi.NewBilling(demoapi.BillingOptions{Seed: 6, Clock: clock.Now,
		Data:   demoapi.BillingData{Invoices: 100, Customers: 5, Start: t0.Add(-time.Hour), Spread: time.Hour},
		Faults: demoapi.Faults{RatePerSecond: 1, Burst: 1}})
	srv := httptest.NewServer(b)
	defer srv.Close()
	cfg := sourceConfig(srv.URL + "/invoices")
	cfg.RecordsPath = "data"
	cfg.GetByIDsURL, cfg.GetByIDsMax = srv.URL+"/invoices/batch?ids={ids}", 10
	client := mustClient(transport.Options{Retry: retryPolicy(6), Clock: clock, Jitter: func(time.Duration) time.Duration { return 0 }})
	src, err := NewSource(cfg, client, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	var asked []string
	for _, inv := range b.Invoices() {
		asked = append(asked, inv.ID)
	}
	recs, err := src.FetchByIDs(t.Context(), asked)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(recs)).To(ConsistOf(asked))
	g.Expect(b.Stats().Requests).To(BeNumerically("==", 10))
	g.Expect(clock.Now().Sub(t0)).To(BeNumerically(">=", 9*time.Second), "the API's 1/s limit paced the 10 batch reads")
	g.Expect(b.Stats().RateLimited).To(BeZero(), "the client followed the API's RateLimit headers: no 429")
}

// TestGetByIDsURLValidation: getByIdsUrl must hold {ids}, stay on the url's host and come
// with a positive getByIdsMax.
func TestGetByIDsURLValidation(t *testing.T) {
	for _, tc := range []struct {
		url  string
		max  int
		want string
	}{
		{"https://billing.example/v1/invoices/batch", 10, "{ids}"},
		{"https://other.example/v1/invoices?ids={ids}", 10, "getByIdsUrl must be on https://billing.example"},
		{"https://billing.example/v1/invoices?ids={ids}", 0, "getByIdsMax must be at least 1"},
	} {
		cfg := sourceConfig("https://billing.example/v1/invoices")
		cfg.GetByIDsURL, cfg.GetByIDsMax = tc.url, tc.max
		NewWithT(t).Expect(cfg.Validate()).To(MatchError(ContainSubstring(tc.want)), fmt.Sprint(tc))
	}
}
