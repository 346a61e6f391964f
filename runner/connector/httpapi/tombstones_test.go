package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// TestTombstonesPagesTheDeletedListing: the demo billing API's deleted-invoices listing is
// read across pages (Link header and body token alike), from since on, with each record's
// deletion time.
func TestTombstonesPagesTheDeletedListing(t *testing.T) {
	start := time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC)
	b := demoapi.NewBilling(demoapi.BillingOptions{Seed: 3, Data: demoapi.BillingData{Invoices: 30, Customers: 5, Start: start, Spread: time.Hour}})
	srv := httptest.NewServer(b)
	defer srv.Close()
	invs := b.Invoices()
	for i := range 7 {
		if err := b.Purge(invs[i].ID, start.Add(time.Duration(10+i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, pag := range []Pagination{
		{Type: PageLinkHeader, TokenPath: "next", TokenParam: "page_token"},
		{Type: PageNextToken, TokenPath: "next", TokenParam: "page_token"},
	} {
		g := NewWithT(t)
		cfg := sourceConfig(srv.URL + "/invoices")
		cfg.RecordsPath, cfg.PageSizeParam, cfg.Pagination = "data", "limit", pag
		ts, err := NewTombstones(cfg, srv.URL+"/invoices/deleted?since={since}", "deleted_at", 2, newClient(), SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		var got []connector.Tombstone
		for tomb, err := range ts.DeletedSince(context.Background(), start.Add(12*time.Minute)) {
			g.Expect(err).NotTo(HaveOccurred())
			got = append(got, tomb)
		}
		g.Expect(got).To(HaveLen(5), "purged at 12..16 minutes, %s", pag.Type)
		for i, tomb := range got {
			g.Expect(tomb.ID).To(Equal(invs[i+2].ID))
			g.Expect(tomb.DeletedAt).To(BeTemporally("==", start.Add(time.Duration(12+i)*time.Minute)))
		}
	}
	_, err := NewTombstones(sourceConfig(srv.URL+"/invoices"), srv.URL+"/invoices/deleted", "deleted_at", 2, newClient(), SourceOptions{})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("{since}")))
}
