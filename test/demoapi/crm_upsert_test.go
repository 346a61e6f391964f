package demoapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func newTestCRM(t *testing.T, opts CRMOptions) (*CRM, string) {
	t.Helper()
	if opts.Customers == nil {
		opts.Customers = []string{"cus_00001", "cus_00002", "cus_00003"}
	}
	c := NewCRM(opts)
	return c, serve(t, c).URL
}

func TestUpsertByExternalID(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock(t0)
	c, base := newTestCRM(t, CRMOptions{Clock: clock.Now})
	url := base + "/invoices/billing_invoice_id/inv_10492"
	v1 := "2026-06-30T23:55:00.123456Z"

	var o obj
	resp := call(t, http.MethodPut, url, map[string]any{
		"account_billing_customer_id": "cus_00002", "status": "open", "total": "120.50", "source_updated_at": v1}, &o)
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
	g.Expect(o).To(And(HaveField("Result", "created"), HaveField("Key", "inv_10492"), HaveField("Version", 1)))
	g.Expect(o.ID).To(HavePrefix("crm_"))
	g.Expect(o.Properties).To(HaveKeyWithValue("account_id", "acc_00002"), "linked through the account's billing_customer_id")

	resp = call(t, http.MethodPut, url, map[string]any{
		"account_billing_customer_id": "cus_00002", "status": "open", "total": "120.50", "source_updated_at": v1}, &o)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(o).To(And(HaveField("Result", "unchanged"), HaveField("Version", 1)))

	clock.Add(time.Hour)
	v2 := "2026-07-01T09:00:00Z"
	o = obj{}
	resp = call(t, http.MethodPatch, url, map[string]any{"status": "paid", "source_updated_at": v2}, &o)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(o).To(And(HaveField("Result", "updated"), HaveField("Version", 2)))
	g.Expect(o.Properties).To(And(HaveKeyWithValue("status", "paid"), HaveKeyWithValue("total", "120.50")), "PATCH merges")

	var e apiErr
	resp = call(t, http.MethodPatch, url, map[string]any{"status": "open", "source_updated_at": v1}, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusConflict))
	g.Expect(e.Code).To(Equal("stale"))
	g.Expect(e.Message).To(ContainSubstring("stale write refused"))
	stored := c.Find("inv_10492")
	g.Expect(stored).To(HaveLen(1))
	g.Expect(stored[0].Properties).To(HaveKeyWithValue("status", "paid"), "the stale write changed nothing")
	g.Expect(stored[0].SourceUpdatedAt).To(Equal(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)))
	g.Expect(stored[0].UpdatedAt).To(Equal(clock.Now()))

	o = obj{}
	resp = call(t, http.MethodPut, url, map[string]any{"properties": map[string]any{"status": "void", "source_updated_at": "2026-07-01T11:00:00+02:00"}}, &o)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "an equal source time in another zone is not stale")
	g.Expect(o.Properties).To(Equal(map[string]any{"status": "void", "source_updated_at": v2}), "PUT replaces; times are normalized to UTC")

	resp = call(t, http.MethodPatch, url, map[string]any{"status": "open"}, &o)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "a write without a source time is not guarded")

	resp = call(t, http.MethodPut, url, map[string]any{"billing_invoice_id": "inv_other"}, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(e.Message).To(ContainSubstring("differs from the key"))
	resp = call(t, http.MethodPut, url, `{"status": `, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	g.Expect(call(t, http.MethodGet, url, nil, &o).StatusCode).To(Equal(http.StatusOK))
	g.Expect(o.Properties).To(HaveKeyWithValue("status", "open"))
	g.Expect(call(t, http.MethodDelete, url, nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(call(t, http.MethodGet, url, nil, nil).StatusCode).To(Equal(http.StatusNotFound))
	g.Expect(call(t, http.MethodDelete, url, nil, nil).StatusCode).To(Equal(http.StatusNotFound))
	g.Expect(c.Count()).To(BeZero())
	g.Expect(c.Stats()).To(And(HaveField("Created", int64(1)), HaveField("Updated", int64(3)),
		HaveField("Unchanged", int64(1)), HaveField("Stale", int64(1)), HaveField("Rejected", int64(1))))
}

func TestPropertyValidation(t *testing.T) {
	cases := []struct {
		name   string
		opts   CRMOptions
		body   string
		status int
		msg    string
	}{
		{"decimal string total", CRMOptions{}, `{"total": "120.50"}`, http.StatusCreated, ""},
		{"number total", CRMOptions{}, `{"total": 120.50}`, http.StatusCreated, ""},
		{"null total", CRMOptions{}, `{"total": null}`, http.StatusCreated, ""},
		{"comma total", CRMOptions{}, `{"total": "120,50"}`, http.StatusBadRequest, "total must be a number"},
		{"boolean total", CRMOptions{}, `{"total": true}`, http.StatusBadRequest, "total must be a number"},
		{"bad source time", CRMOptions{}, `{"source_updated_at": "yesterday"}`, http.StatusBadRequest, "source_updated_at must be an RFC 3339 time"},
		{"existing account", CRMOptions{}, `{"account_id": "acc_00003"}`, http.StatusCreated, ""},
		{"missing account", CRMOptions{}, `{"account_id": "acc_99999"}`, http.StatusBadRequest, "account_id acc_99999 does not exist"},
		{"customer without account", CRMOptions{OmitAccounts: []string{"cus_00002"}}, `{"account_billing_customer_id": "cus_00002"}`, http.StatusBadRequest, "no account with billing_customer_id cus_00002"},
		{"account and customer disagree", CRMOptions{}, `{"account_id": "acc_00001", "account_billing_customer_id": "cus_00002"}`, http.StatusBadRequest, "is not the account"},
		{"account required", CRMOptions{RequireAccount: true}, `{"status": "open"}`, http.StatusBadRequest, "account_id required"},
		{"account required and given", CRMOptions{RequireAccount: true}, `{"account_billing_customer_id": "cus_00001"}`, http.StatusCreated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c, base := newTestCRM(t, tc.opts)
			var e apiErr
			resp := call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_1", tc.body, &e)
			g.Expect(resp.StatusCode).To(Equal(tc.status))
			if tc.msg != "" {
				g.Expect(e.Code).To(Equal("validation"))
				g.Expect(e.Message).To(ContainSubstring(tc.msg))
				g.Expect(c.Count()).To(BeZero())
			} else {
				g.Expect(c.Count()).To(Equal(1))
			}
		})
	}
}

func TestNumbersKeepTheirDigits(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_1", `{"total": 120.50}`, nil)
	g.Expect(c.Find("inv_1")[0].Properties).To(HaveKeyWithValue("total", json.Number("120.50")))
	var o obj
	call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_1", `{"total": 120.50}`, &o)
	g.Expect(o.Result).To(Equal("unchanged"))
}

func TestInjectedRejections(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	resp := call(t, http.MethodPut, base+"/admin/rejections/inv_7", `{"message": "total must be a number"}`, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
	c.Reject("inv_8", "account_id required")
	g.Expect(c.Rejections()).To(Equal(map[string]string{"inv_7": "total must be a number", "inv_8": "account_id required"}))

	var e apiErr
	g.Expect(call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_7", `{"total": "1.00"}`, &e).StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(e.Message).To(Equal("total must be a number"))
	g.Expect(call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_6", `{"total": "1.00"}`, nil).StatusCode).To(Equal(http.StatusCreated))

	g.Expect(call(t, http.MethodDelete, base+"/admin/rejections/inv_7", nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_7", `{"total": "1.00"}`, nil).StatusCode).To(Equal(http.StatusCreated))
	g.Expect(call(t, http.MethodPost, base+"/invoices", `{"billing_invoice_id": "inv_8"}`, nil).StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(call(t, http.MethodDelete, base+"/admin/rejections", nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(c.Rejections()).To(BeEmpty())
	g.Expect(call(t, http.MethodPut, base+"/admin/rejections/inv_9", `{}`, nil).StatusCode).To(Equal(http.StatusBadRequest))
}
