package demoapi

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

type searchAnswer struct {
	Results []obj `json:"results"`
	Total   int   `json:"total"`
}

func TestNaiveCreateMakesDuplicates(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	body := map[string]any{"billing_invoice_id": "inv_1", "status": "open"}
	var first, second obj
	g.Expect(call(t, http.MethodPost, base+"/invoices", body, &first).StatusCode).To(Equal(http.StatusCreated))
	g.Expect(call(t, http.MethodPost, base+"/invoices", body, &second).StatusCode).To(Equal(http.StatusCreated))
	g.Expect(first.ID).NotTo(Equal(second.ID))
	g.Expect(c.Count()).To(Equal(2))
	g.Expect(c.DuplicateKeys()).To(Equal([]string{"inv_1"}))

	var s searchAnswer
	call(t, http.MethodGet, base+"/invoices/search?billing_invoice_id=inv_1", nil, &s)
	g.Expect(s.Total).To(Equal(2))
	g.Expect(s.Results).To(HaveLen(2))

	var e apiErr
	resp := call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_1", map[string]any{"status": "paid"}, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusMultipleChoices))
	g.Expect(e.Code).To(Equal("multiple_matches"))
	g.Expect(e.IDs).To(ConsistOf(first.ID, second.ID))
	g.Expect(call(t, http.MethodGet, base+"/invoices/billing_invoice_id/inv_1", nil, nil).StatusCode).To(Equal(http.StatusMultipleChoices))
	var ans batchAnswer
	call(t, http.MethodPost, base+"/invoices/batch/upsert", map[string]any{"inputs": []batchInput{input("inv_1", nil)}}, &ans)
	g.Expect(ans.Errors).To(HaveLen(1))
	g.Expect(ans.Errors[0].Status).To(Equal(http.StatusConflict))
	g.Expect(ans.Errors[0].Code).To(Equal("multiple_matches"))

	var dups struct{ Keys []string }
	call(t, http.MethodGet, base+"/admin/duplicates", nil, &dups)
	g.Expect(dups.Keys).To(Equal([]string{"inv_1"}))

	g.Expect(call(t, http.MethodDelete, base+"/invoices/"+second.ID, nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(c.DuplicateKeys()).To(BeEmpty())
	g.Expect(c.Count()).To(Equal(1))
	g.Expect(call(t, http.MethodGet, base+"/invoices/"+second.ID, nil, nil).StatusCode).To(Equal(http.StatusNotFound))
	g.Expect(call(t, http.MethodDelete, base+"/invoices/"+second.ID, nil, nil).StatusCode).To(Equal(http.StatusNotFound))
}

// lookupThenWrite is the client behaviour the no-upsert shape needs: search by key, then
// create or patch.
func lookupThenWrite(t *testing.T, base, key string, props map[string]any) (int, obj) {
	t.Helper()
	var s searchAnswer
	NewWithT(t).Expect(call(t, http.MethodGet, base+"/invoices/search?billing_invoice_id="+key, nil, &s).StatusCode).To(Equal(http.StatusOK))
	var o obj
	if len(s.Results) == 0 {
		body := map[string]any{"billing_invoice_id": key}
		for k, v := range props {
			body[k] = v
		}
		return call(t, http.MethodPost, base+"/invoices", body, &o).StatusCode, o
	}
	return call(t, http.MethodPatch, base+"/invoices/"+s.Results[0].ID, props, &o).StatusCode, o
}

func TestLookupThenWriteStaysUnique(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	status, o := lookupThenWrite(t, base, "inv_1", map[string]any{"status": "open", "source_updated_at": "2026-07-01T00:00:00Z"})
	g.Expect(status).To(Equal(http.StatusCreated))
	g.Expect(o.Result).To(Equal("created"))
	status, o = lookupThenWrite(t, base, "inv_1", map[string]any{"status": "open", "source_updated_at": "2026-07-01T00:00:00Z"})
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(o.Result).To(Equal("unchanged"))
	status, o = lookupThenWrite(t, base, "inv_1", map[string]any{"status": "paid", "source_updated_at": "2026-07-02T00:00:00Z"})
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(o).To(And(HaveField("Result", "updated"), HaveField("Version", 2)))
	status, _ = lookupThenWrite(t, base, "inv_1", map[string]any{"status": "open", "source_updated_at": "2026-07-01T00:00:00Z"})
	g.Expect(status).To(Equal(http.StatusConflict), "PATCH by id is guarded too")
	g.Expect(c.Count()).To(Equal(1))
	g.Expect(c.DuplicateKeys()).To(BeEmpty())

	var e apiErr
	g.Expect(call(t, http.MethodPost, base+"/invoices", `{"status": "open"}`, &e).StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(e.Message).To(Equal("billing_invoice_id required"))
	g.Expect(call(t, http.MethodPatch, base+"/invoices/crm_9999999", `{}`, &e).StatusCode).To(Equal(http.StatusNotFound))
	g.Expect(call(t, http.MethodPatch, base+"/invoices/"+o.ID, `{"billing_invoice_id": "inv_2"}`, &e).StatusCode).To(Equal(http.StatusBadRequest), "the key cannot change")
	g.Expect(call(t, http.MethodGet, base+"/invoices/search", nil, &e).StatusCode).To(Equal(http.StatusBadRequest))
	var s searchAnswer
	call(t, http.MethodGet, base+"/invoices/search?billing_invoice_id=inv_404", nil, &s)
	g.Expect(s.Results).To(BeEmpty())
	g.Expect(s.Results).NotTo(BeNil(), "an empty list, not null")
}
