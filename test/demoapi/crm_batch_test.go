package demoapi

import (
	"fmt"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

type batchInput struct {
	IDProperty string         `json:"idProperty"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
}

type batchAnswer struct {
	Status  string `json:"status"`
	Results []obj  `json:"results"`
	Errors  []struct {
		ID      string `json:"id"`
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	NumErrors int `json:"numErrors"`
}

func input(key string, props map[string]any) batchInput {
	return batchInput{IDProperty: "billing_invoice_id", ID: key, Properties: props}
}

func TestBatchUpsertFailsRecordsAlone(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{OmitAccounts: []string{"cus_00003"}})
	call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_stale", map[string]any{"source_updated_at": "2026-07-01T00:00:00Z"}, nil)
	c.Reject("inv_rejected", "total must be a number")

	inputs := []batchInput{
		input("inv_new", map[string]any{"account_billing_customer_id": "cus_00001", "total": "10.00", "source_updated_at": "2026-06-30T00:00:00Z"}),
		input("inv_rejected", map[string]any{"total": "1.00"}),
		input("inv_stale", map[string]any{"status": "open", "source_updated_at": "2026-06-30T00:00:00Z"}),
		input("inv_no_account", map[string]any{"account_billing_customer_id": "cus_00003"}),
		{IDProperty: "hs_object_id", ID: "inv_wrong_property", Properties: map[string]any{}},
		input("inv_new2", map[string]any{"status": "paid"}),
	}
	var ans batchAnswer
	resp := call(t, http.MethodPost, base+"/invoices/batch/upsert", map[string]any{"inputs": inputs}, &ans)
	g.Expect(resp.StatusCode).To(Equal(http.StatusMultiStatus))
	g.Expect(ans.Status).To(Equal("COMPLETE"))
	g.Expect(ans.Results).To(HaveLen(2))
	g.Expect(ans.Results[0]).To(And(HaveField("Key", "inv_new"), HaveField("Result", "created")))
	g.Expect(ans.Results[1]).To(And(HaveField("Key", "inv_new2"), HaveField("Result", "created")))
	g.Expect(ans.NumErrors).To(Equal(4))
	got := map[string]string{}
	for _, e := range ans.Errors {
		got[e.ID] = fmt.Sprintf("%d %s %s", e.Status, e.Code, e.Message)
	}
	g.Expect(got).To(HaveKeyWithValue("inv_rejected", "400 validation total must be a number"))
	g.Expect(got).To(HaveKeyWithValue("inv_stale", HavePrefix("409 stale stale write refused")))
	g.Expect(got).To(HaveKeyWithValue("inv_no_account", "400 validation no account with billing_customer_id cus_00003"))
	g.Expect(got).To(HaveKeyWithValue("inv_wrong_property", ContainSubstring(`idProperty "hs_object_id"`)))
	g.Expect(c.Count()).To(Equal(3))

	c.ClearRejections()
	c.AddAccount("cus_00003", "")
	ans = batchAnswer{}
	resp = call(t, http.MethodPost, base+"/invoices/batch/upsert", map[string]any{"inputs": []batchInput{
		inputs[0], inputs[1], inputs[3],
	}}, &ans)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(ans.Errors).To(BeEmpty())
	g.Expect([]string{ans.Results[0].Result, ans.Results[1].Result, ans.Results[2].Result}).To(Equal([]string{"unchanged", "created", "created"}))
	g.Expect(c.DuplicateKeys()).To(BeEmpty())
}

func TestBatchRequestErrorsWriteNothing(t *testing.T) {
	c, base := newTestCRM(t, CRMOptions{MaxBatch: 2})
	three := []batchInput{input("a", nil), input("b", nil), input("c", nil)}
	for name, body := range map[string]any{
		"too many inputs": map[string]any{"inputs": three},
		"no inputs":       `{"inputs": []}`,
		"malformed":       `{"inputs": [`,
		"wrong shape":     `{"inputs": {"id": "a"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var e apiErr
			g.Expect(call(t, http.MethodPost, base+"/invoices/batch/upsert", body, &e).StatusCode).To(Equal(http.StatusBadRequest))
			g.Expect(e.Code).To(Equal("bad_request"))
			g.Expect(c.Count()).To(BeZero())
		})
	}
}

func TestBatchInputsApplyInOrder(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	var ans batchAnswer
	call(t, http.MethodPost, base+"/invoices/batch/upsert", map[string]any{"inputs": []batchInput{
		input("inv_1", map[string]any{"status": "open"}), input("inv_1", map[string]any{"status": "paid"}),
	}}, &ans)
	g.Expect([]string{ans.Results[0].Result, ans.Results[1].Result}).To(Equal([]string{"created", "updated"}))
	g.Expect(c.Find("inv_1")).To(HaveLen(1))
	g.Expect(c.Find("inv_1")[0].Properties).To(HaveKeyWithValue("status", "paid"))
}
