package demoapi

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAdminUpsertPayAndSoftDelete(t *testing.T) {
	g := NewWithT(t)
	now := t0.Add(48 * time.Hour)
	clock := newFakeClock(now)
	b := NewBilling(BillingOptions{Clock: clock.Now, Seed: 9, Data: BillingData{Invoices: 20, Start: t0, Spread: time.Hour}})
	srv := serve(t, b)

	var created struct{ Data []wireInvoice }
	resp := call(t, http.MethodPost, srv.URL+"/admin/invoices",
		`[{"customer_id": "cus_00001", "total": "99.90"}, {"id": "inv_10492", "customer_id": "cus_00002", "status": "open", "updated_at": "2026-06-30T23:55:00.5Z"}]`, &created)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(created.Data).To(HaveLen(2))
	g.Expect(created.Data[0].ID).To(Equal("inv_00021"), "the next generated id")
	g.Expect(created.Data[0].UpdatedAt).To(Equal(now.Format(WireTime)), "updated now")
	g.Expect(created.Data[1].UpdatedAt).To(Equal("2026-06-30T23:55:00.500000Z"))
	g.Expect(b.Count()).To(Equal(22))

	// A late update: the payment clears with an updated_at behind a cursor at now, within
	// a 5 minute safety gap. A read from the rewound cursor sees it.
	late := now.Add(-2 * time.Minute)
	var paid wireInvoice
	resp = call(t, http.MethodPost, srv.URL+"/admin/invoices/inv_10492/pay", map[string]string{"updated_at": late.Format(time.RFC3339)}, &paid)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(paid.Status).To(Equal(StatusPaid))
	g.Expect(paid.UpdatedAt).To(Equal(late.Format(WireTime)))

	var page wirePage
	call(t, http.MethodGet, srv.URL+"/invoices?updated_since="+now.Add(-5*time.Minute).Format(time.RFC3339), nil, &page)
	g.Expect(page.Data).To(HaveLen(2))
	g.Expect(page.Data[0].ID).To(Equal("inv_10492"))
	g.Expect(page.Data[1].ID).To(Equal("inv_00021"))

	clock.Add(time.Minute)
	var deleted wireInvoice
	resp = call(t, http.MethodDelete, srv.URL+"/admin/invoices/inv_00003", nil, &deleted)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(deleted.DeletedAt).To(HaveValue(Equal(clock.Now().Format(WireTime))))
	g.Expect(deleted.UpdatedAt).To(Equal(clock.Now().Format(WireTime)))
	g.Expect(b.Invoices()[b.Count()-1].ID).To(Equal("inv_00003"), "the deletion travels with the cursor")

	resp = call(t, http.MethodPost, srv.URL+"/admin/invoices/inv_404/pay?updated_at="+late.Format(time.RFC3339), nil, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	for _, bad := range []string{`{"customer_id": ""}`, `{"customer_id": "c", "status": "lost"}`, `{"customer_id": "c", "total": "1,5"}`, `[{]`} {
		g.Expect(call(t, http.MethodPost, srv.URL+"/admin/invoices", bad, nil).StatusCode).To(Equal(http.StatusBadRequest), bad)
	}
	var all struct{ Count int }
	call(t, http.MethodGet, srv.URL+"/admin/invoices", nil, &all)
	g.Expect(all.Count).To(Equal(22))
	g.Expect(b.Stats().Requests).To(Equal(int64(1)), "only the API list was counted")
}

func TestGeneratedDataIsReproducible(t *testing.T) {
	g := NewWithT(t)
	opts := BillingOptions{Seed: 42, Data: BillingData{Invoices: 500, Customers: 30, Start: t0, Ties: []int{100}}}
	a, b := NewBilling(opts).Invoices(), NewBilling(opts).Invoices()
	g.Expect(a).To(Equal(b))
	opts.Seed = 43
	g.Expect(NewBilling(opts).Invoices()).NotTo(Equal(a))

	customers := map[string]bool{}
	statuses := map[string]int{}
	idOrderDiffers := false
	for i, inv := range a {
		customers[inv.CustomerID] = true
		statuses[inv.Status]++
		g.Expect(isDecimal(inv.Total)).To(BeTrue())
		g.Expect(inv.UpdatedAt.Before(inv.CreatedAt)).To(BeFalse())
		if i > 0 && inv.UpdatedAt.After(a[i-1].UpdatedAt) && inv.ID < a[i-1].ID {
			idOrderDiffers = true
		}
	}
	g.Expect(len(customers)).To(BeNumerically("<=", 30))
	g.Expect(statuses).To(HaveKey(StatusOpen))
	g.Expect(statuses).To(HaveKey(StatusPaid))
	g.Expect(idOrderDiffers).To(BeTrue(), "late payments move invoices out of id order")
	big := NewBilling(BillingOptions{Data: BillingData{Invoices: 100000}})
	_, first := big.Get("inv_000001")
	_, last := big.Get("inv_100000")
	g.Expect([]bool{first, last}).To(Equal([]bool{true, true}), "ids pad to six digits for 100000")
}
