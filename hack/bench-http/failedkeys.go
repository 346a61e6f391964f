package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"k8s.io/utils/ptr"

	"github.com/checkpointed/checkpointed/runner/connector/httpapi"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// fetchOutcome is one way of fetching the failed keys.
type fetchOutcome struct {
	wall      time.Duration
	requests  int64
	throttled int64
	found     int
}

// failedKeyFetch fetches n failed keys (a hundredth of them purged from the API) the way a
// run's retry does, through the HTTP source of the runner, against the demo billing API at
// apiRate with the client limit at clientRate: once per id (getByIdUrl) and in batches
// (getByIdsUrl, the API's maximum of 100 ids per request). The engine asks in chunks of
// its page size (100).
func failedKeyFetch(n int, apiRate, clientRate float64) (perID, batch fetchOutcome, err error) {
	for _, mode := range []string{"per-id", "batch"} {
		billing := demoapi.NewBilling(demoapi.BillingOptions{
			Seed: 2, MaxLimit: 100, BatchMaxIDs: 100, APIKey: "bench-billing-token",
			Data:   demoapi.BillingData{Invoices: n, Customers: min(200, max(1, n/20))},
			Faults: demoapi.Faults{RatePerSecond: apiRate},
		})
		srv := httptest.NewServer(billing)
		var ids []string
		for i, inv := range billing.Invoices() {
			if i%100 == 99 {
				if err := billing.Purge(inv.ID, time.Time{}); err != nil {
					srv.Close()
					return perID, batch, err
				}
			}
			ids = append(ids, inv.ID)
		}
		cfg := httpapi.SourceConfig{URL: srv.URL + "/invoices", TimeFormat: httpapi.TimeRFC3339,
			Pagination:  httpapi.Pagination{Type: httpapi.PageNextToken, TokenPath: "next", TokenParam: "page_token"},
			RecordsPath: "data", IDPath: "id", UpdatedAtPath: "updated_at", Sorted: ptr.To(true)}
		if mode == "batch" {
			cfg.GetByIDsURL, cfg.GetByIDsMax = srv.URL+"/invoices/batch?ids={ids}", 100
		} else {
			cfg.GetByIDURL = srv.URL + "/invoices/{id}"
		}
		lim, err := transport.NewLimiter(transport.RateLimit{RequestsPerSecond: clientRate, Burst: 1})
		if err != nil {
			srv.Close()
			return perID, batch, err
		}
		client, err := transport.New(transport.Options{Auth: transport.BearerAuth("bench-billing-token"), Limiter: lim,
			Retry: transport.RetryPolicy{MaxAttempts: 6, MaxBackoff: 30 * time.Second, RequestTimeout: 30 * time.Second, MaxTotalWait: 10 * time.Minute}})
		if err != nil {
			srv.Close()
			return perID, batch, err
		}
		src, err := httpapi.NewSource(cfg, client, httpapi.SourceOptions{})
		if err != nil {
			srv.Close()
			return perID, batch, err
		}
		start := time.Now()
		found := 0
		for lo := 0; lo < len(ids); lo += 100 {
			recs, err := src.FetchByIDs(context.Background(), ids[lo:min(lo+100, len(ids))])
			if err != nil {
				srv.Close()
				return perID, batch, fmt.Errorf("%s fetch: %w", mode, err)
			}
			found += len(recs)
		}
		out := fetchOutcome{wall: time.Since(start), found: found}
		st := billing.Stats()
		out.requests, out.throttled = st.Requests, st.RateLimited
		srv.Close()
		if want := billing.Count(); found != want {
			return perID, batch, fmt.Errorf("%s fetch found %d records, the API holds %d", mode, found, want)
		}
		if mode == "batch" {
			batch = out
		} else {
			perID = out
		}
	}
	return perID, batch, nil
}
