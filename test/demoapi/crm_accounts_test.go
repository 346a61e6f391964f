package demoapi

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestAccountLookup(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{OmitAccounts: []string{"cus_00002"}})
	g.Expect(c.Accounts()).To(Equal([]Account{
		{ID: "acc_00001", Name: "Customer cus_00001", BillingCustomerID: "cus_00001"},
		{ID: "acc_00002", Name: "Customer cus_00003", BillingCustomerID: "cus_00003"},
	}))
	var ans struct{ Results []Account }
	g.Expect(call(t, http.MethodGet, base+"/accounts?billing_customer_id=cus_00003", nil, &ans).StatusCode).To(Equal(http.StatusOK))
	g.Expect(ans.Results).To(Equal([]Account{{ID: "acc_00002", Name: "Customer cus_00003", BillingCustomerID: "cus_00003"}}))
	ans.Results = nil
	call(t, http.MethodGet, base+"/accounts?billing_customer_id=cus_00002", nil, &ans)
	g.Expect(ans.Results).To(BeEmpty(), "the omitted customer has no account")
	call(t, http.MethodGet, base+"/accounts", nil, &ans)
	g.Expect(ans.Results).To(HaveLen(2))

	var a Account
	g.Expect(call(t, http.MethodGet, base+"/accounts/acc_00001", nil, &a).StatusCode).To(Equal(http.StatusOK))
	g.Expect(a.BillingCustomerID).To(Equal("cus_00001"))
	g.Expect(call(t, http.MethodGet, base+"/accounts/acc_00009", nil, nil).StatusCode).To(Equal(http.StatusNotFound))

	// The missing lookup target, then fixed by an operator.
	write := func() int {
		return call(t, http.MethodPut, base+"/invoices/billing_invoice_id/inv_1", `{"account_billing_customer_id": "cus_00002"}`, nil).StatusCode
	}
	g.Expect(write()).To(Equal(http.StatusBadRequest))
	g.Expect(call(t, http.MethodPost, base+"/admin/accounts", `{"billing_customer_id": "cus_00002", "name": "Late Ltd"}`, &a).StatusCode).To(Equal(http.StatusCreated))
	g.Expect(a).To(Equal(Account{ID: "acc_00003", Name: "Late Ltd", BillingCustomerID: "cus_00002"}))
	g.Expect(write()).To(Equal(http.StatusCreated))
	got, ok := c.AccountForCustomer("cus_00002")
	g.Expect(ok).To(BeTrue())
	g.Expect(c.Find("inv_1")[0].Properties).To(HaveKeyWithValue("account_id", got.ID))

	g.Expect(call(t, http.MethodDelete, base+"/admin/accounts/acc_00003", nil, nil).StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(call(t, http.MethodDelete, base+"/admin/accounts/acc_00003", nil, nil).StatusCode).To(Equal(http.StatusNotFound))
	_, ok = c.AccountForCustomer("cus_00002")
	g.Expect(ok).To(BeFalse())
	g.Expect(call(t, http.MethodPost, base+"/admin/accounts", `{"name": "no customer"}`, nil).StatusCode).To(Equal(http.StatusBadRequest))
}
