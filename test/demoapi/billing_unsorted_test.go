package demoapi

import (
	"net/http"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestUnsortedServesEveryMatchOnceInAStableShuffledOrder(t *testing.T) {
	g := NewWithT(t)
	b := NewBilling(BillingOptions{Unsorted: true, Seed: 5, Data: BillingData{Invoices: 200, Start: t0}})
	srv := serve(t, b)
	var sorted []string
	for _, inv := range b.Invoices() {
		sorted = append(sorted, inv.ID)
	}

	for _, mode := range []string{"token", "link"} {
		got := walk(t, srv.URL, mode, 30)
		g.Expect(got).To(ConsistOf(sorted), mode)
		g.Expect(got).NotTo(Equal(sorted), "not in (updated_at, id) order")
		g.Expect(walk(t, srv.URL, mode, 30)).To(Equal(got), "the same query pages through the same order")
	}

	since := b.Invoices()[150].UpdatedAt
	var page wirePage
	resp := call(t, http.MethodGet, srv.URL+"/invoices?limit=1000&updated_since="+since.Format(time.RFC3339Nano), nil, &page)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var ids []string
	for _, inv := range page.Data {
		ids = append(ids, inv.ID.(string))
		at, err := time.Parse(time.RFC3339Nano, inv.UpdatedAt)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(at.Before(since)).To(BeFalse())
	}
	g.Expect(ids).To(ConsistOf(sorted[150:]), "the filter still applies")
	g.Expect(slices.IsSorted(ids)).To(BeFalse())
}
