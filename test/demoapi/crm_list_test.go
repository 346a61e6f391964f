package demoapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestListAndCountObjects(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	for n := range 250 {
		inputs := []batchInput{input(fmt.Sprintf("inv_%05d", n), map[string]any{
			"source_updated_at": t0.Add(time.Duration(n) * time.Minute).Format(time.RFC3339)})}
		g.Expect(call(t, http.MethodPost, base+"/invoices/batch/upsert", map[string]any{"inputs": inputs}, nil).StatusCode).To(Equal(http.StatusOK))
	}
	g.Expect(call(t, http.MethodDelete, base+"/invoices/billing_invoice_id/inv_00099", nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(call(t, http.MethodDelete, base+"/invoices/billing_invoice_id/inv_00100", nil, nil).StatusCode).To(Equal(http.StatusNoContent))

	var keys []string
	next, pages := "", 0
	for {
		var page struct {
			Results []obj
			Next    string
		}
		g.Expect(call(t, http.MethodGet, base+"/invoices?limit=100&after="+next, nil, &page).StatusCode).To(Equal(http.StatusOK))
		pages++
		for _, o := range page.Results {
			keys = append(keys, o.Key)
		}
		if page.Next == "" {
			break
		}
		next = page.Next
	}
	g.Expect(pages).To(Equal(3))
	g.Expect(keys).To(HaveLen(248))
	g.Expect(keys).To(HaveEach(Not(BeElementOf("inv_00099", "inv_00100"))))
	g.Expect(keys[0]).To(Equal("inv_00000"))
	g.Expect(keys[247]).To(Equal("inv_00249"))
	g.Expect(c.Invoices()).To(HaveLen(248))

	var count struct{ Count int }
	from, to := t0.Add(10*time.Minute).Format(time.RFC3339), t0.Add(19*time.Minute).Format(time.RFC3339)
	call(t, http.MethodGet, base+"/invoices/count?source_updated_from="+from+"&source_updated_to="+to, nil, &count)
	g.Expect(count.Count).To(Equal(10), "both bounds inclusive")
	call(t, http.MethodGet, base+"/invoices/count", nil, &count)
	g.Expect(count.Count).To(Equal(248))
	g.Expect(call(t, http.MethodGet, base+"/invoices/count?source_updated_to=later", nil, nil).StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(call(t, http.MethodGet, base+"/invoices?after=acc_1", nil, nil).StatusCode).To(Equal(http.StatusBadRequest))

	var all struct{ Count int }
	call(t, http.MethodGet, base+"/admin/invoices", nil, &all)
	g.Expect(all.Count).To(Equal(248))
}
