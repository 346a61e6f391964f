package demoapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestBillingBatchGet: GET /invoices/batch?ids= answers the invoices it holds in the order
// asked, leaves unknown ids out, refuses more than BatchMaxIDs ids or none with a 400, and
// is rate limited like every API endpoint (429 with Retry-After).
func TestBillingBatchGet(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	b := NewBilling(BillingOptions{Seed: 2, Clock: clock.Now, BatchMaxIDs: 3,
		Data: BillingData{Invoices: 10, Customers: 2}, Faults: Faults{RatePerSecond: 2, Burst: 2}})
	srv := serve(t, b)
	invs := b.Invoices()

	var page wirePage
	resp := call(t, http.MethodGet, srv.URL+"/invoices/batch?ids="+strings.Join([]string{invs[4].ID, "nope", invs[1].ID}, ","), nil, &page)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var got []string
	for _, inv := range page.Data {
		got = append(got, fmt.Sprint(inv.ID))
	}
	g.Expect(got).To(Equal([]string{invs[4].ID, invs[1].ID}))
	g.Expect(page.HasMore).To(BeFalse())

	resp = call(t, http.MethodGet, srv.URL+"/invoices/batch?ids=a,b,c,d", nil, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "more than BatchMaxIDs")

	resp = call(t, http.MethodGet, srv.URL+"/invoices/batch?ids=a", nil, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests), "the third request in the same instant at 2/s, burst 2")
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"))

	clock.Add(time.Second)
	resp = call(t, http.MethodGet, srv.URL+"/invoices/batch", nil, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "no ids")
}
