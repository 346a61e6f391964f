package demoapi

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var linkNext = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// walk reads every page of the list endpoint in one paging mode and returns the ids in
// the order served.
func walk(t *testing.T, base, mode string, limit int) []string {
	t.Helper()
	g := NewWithT(t)
	var ids []string
	next := fmt.Sprintf("%s/invoices?limit=%d", base, limit)
	for pages := 0; next != ""; pages++ {
		g.Expect(pages).To(BeNumerically("<", 10000), "paging does not end")
		var page wirePage
		resp := call(t, http.MethodGet, next, nil, &page)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(len(page.Data)).To(BeNumerically("<=", limit))
		for _, inv := range page.Data {
			ids = append(ids, fmt.Sprint(inv.ID))
		}
		link := resp.Header.Get("Link")
		g.Expect(page.HasMore).To(Equal(link != ""))
		g.Expect(page.Next != "").To(Equal(page.HasMore))
		if !page.HasMore {
			break
		}
		switch mode {
		case "token":
			next = fmt.Sprintf("%s/invoices?limit=%d&page_token=%s", base, limit, url.QueryEscape(page.Next))
		case "link":
			m := linkNext.FindStringSubmatch(link)
			g.Expect(m).To(HaveLen(2), link)
			next = m[1]
		case "cursor":
			last := page.Data[len(page.Data)-1]
			next = fmt.Sprintf("%s/invoices?limit=%d&updated_since=%s&after_id=%s", base, limit,
				url.QueryEscape(last.UpdatedAt), url.QueryEscape(fmt.Sprint(last.ID)))
		}
	}
	return ids
}

func TestListPagesEveryInvoiceOnceInOrderWithTies(t *testing.T) {
	b := NewBilling(BillingOptions{Seed: 7, Data: BillingData{Invoices: 1000, Customers: 40, Start: t0, Ties: []int{300, 50}}})
	srv := serve(t, b)
	var want []string
	ties := map[time.Time]int{}
	for _, inv := range b.Invoices() {
		want = append(want, inv.ID)
		ties[inv.UpdatedAt]++
	}
	largest := 0
	for _, n := range ties {
		largest = max(largest, n)
	}
	NewWithT(t).Expect(largest).To(BeNumerically(">=", 300), "the data holds the tie group")
	for _, mode := range []string{"token", "link", "cursor"} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			got := walk(t, srv.URL, mode, 37)
			g.Expect(got).To(HaveLen(1000))
			g.Expect(got).To(Equal(want))
		})
	}
}

func TestListFilterBySinceAndAfterID(t *testing.T) {
	b := NewBilling(BillingOptions{})
	t1, t2, t3 := t0, t0.Add(time.Second+123456*time.Microsecond), t0.Add(time.Hour)
	for _, inv := range []Invoice{
		{ID: "inv_00001", UpdatedAt: t1}, {ID: "inv_00004", UpdatedAt: t2}, {ID: "inv_00002", UpdatedAt: t2},
		{ID: "inv_00003", UpdatedAt: t2}, {ID: "inv_00005", UpdatedAt: t3},
	} {
		inv.CustomerID = "cus_00001"
		_, err := b.Upsert(inv)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
	}
	srv := serve(t, b)
	cases := []struct {
		name  string
		query string
		want  []string
	}{
		{"everything", "", []string{"inv_00001", "inv_00002", "inv_00003", "inv_00004", "inv_00005"}},
		{"since includes ties", "updated_since=" + t2.Format(time.RFC3339Nano), []string{"inv_00002", "inv_00003", "inv_00004", "inv_00005"}},
		{"after id within a tie", "updated_since=" + t2.Format(time.RFC3339Nano) + "&after_id=inv_00002", []string{"inv_00003", "inv_00004", "inv_00005"}},
		{"after the last id of a tie", "updated_since=" + t2.Format(time.RFC3339Nano) + "&after_id=inv_00004", []string{"inv_00005"}},
		{"after the very last", "updated_since=" + t3.Format(time.RFC3339Nano) + "&after_id=inv_00005", nil},
		{"other zone, same instant", "updated_since=" + url.QueryEscape(t2.In(time.FixedZone("x", 2*3600)).Format(time.RFC3339Nano)), []string{"inv_00002", "inv_00003", "inv_00004", "inv_00005"}},
		{"nanosecond before the tie", "updated_since=" + t2.Add(-time.Nanosecond).Format(time.RFC3339Nano) + "&after_id=zzz", []string{"inv_00002", "inv_00003", "inv_00004", "inv_00005"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var page wirePage
			resp := call(t, http.MethodGet, srv.URL+"/invoices?"+tc.query, nil, &page)
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
			var got []string
			for _, inv := range page.Data {
				got = append(got, inv.ID.(string))
			}
			g.Expect(got).To(Equal(tc.want))
			g.Expect(page.HasMore).To(BeFalse())
		})
	}
}

func TestIntegerIDsOrderNumerically(t *testing.T) {
	g := NewWithT(t)
	b := NewBilling(BillingOptions{IDs: IntegerIDs})
	for _, id := range []string{"9", "10", "2"} {
		_, err := b.Upsert(Invoice{ID: id, CustomerID: "cus_1", UpdatedAt: t0})
		g.Expect(err).NotTo(HaveOccurred())
	}
	_, err := b.Upsert(Invoice{ID: "inv_1", CustomerID: "cus_1"})
	g.Expect(err).To(MatchError(ContainSubstring("not an integer")))
	srv := serve(t, b)

	var page wirePage
	call(t, http.MethodGet, srv.URL+"/invoices", nil, &page)
	g.Expect(page.Data).To(HaveLen(3))
	g.Expect([]any{page.Data[0].ID, page.Data[1].ID, page.Data[2].ID}).To(Equal([]any{2.0, 9.0, 10.0}), "ids are JSON numbers in numeric order")

	call(t, http.MethodGet, srv.URL+"/invoices?updated_since="+t0.Format(time.RFC3339)+"&after_id=9", nil, &page)
	g.Expect(page.Data).To(HaveLen(1))
	g.Expect(page.Data[0].ID).To(Equal(10.0))

	var e apiErr
	resp := call(t, http.MethodGet, srv.URL+"/invoices?after_id=inv_9", nil, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(e.Message).To(ContainSubstring("not an integer"))
	g.Expect(b.CompareIDs("9", "10")).To(Equal(-1))
	g.Expect(NewBilling(BillingOptions{}).CompareIDs("9", "10")).To(Equal(1))
}

func TestPageTokenDoesNotSkipRecordsUpdatedBetweenPages(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock(t0.Add(240 * time.Hour))
	b := NewBilling(BillingOptions{Clock: clock.Now, Seed: 3, Data: BillingData{Invoices: 10, Start: t0}})
	srv := serve(t, b)

	var page wirePage
	call(t, http.MethodGet, srv.URL+"/invoices?limit=4", nil, &page)
	g.Expect(page.Data).To(HaveLen(4))
	moved := page.Data[0].ID.(string)
	seen := map[string]int{}
	for _, inv := range page.Data {
		seen[inv.ID.(string)]++
	}
	_, err := b.Pay(moved, time.Time{}) // now: far after every other invoice
	g.Expect(err).NotTo(HaveOccurred())

	for page.Next != "" {
		next := page.Next
		page = wirePage{}
		call(t, http.MethodGet, srv.URL+"/invoices?limit=4&page_token="+next, nil, &page)
		for _, inv := range page.Data {
			seen[inv.ID.(string)]++
		}
	}
	g.Expect(seen).To(HaveLen(10), "nothing skipped")
	g.Expect(seen[moved]).To(Equal(2), "the updated invoice is read again at its new position")
	last, ok := b.Get(moved)
	g.Expect(ok).To(BeTrue())
	g.Expect(last.UpdatedAt).To(Equal(clock.Now()))
	g.Expect(last.Status).To(Equal(StatusPaid))
}

func TestOffsetPaging(t *testing.T) {
	g := NewWithT(t)
	b := NewBilling(BillingOptions{Seed: 1, Data: BillingData{Invoices: 5, Start: t0}})
	srv := serve(t, b)
	var page wirePage
	resp := call(t, http.MethodGet, srv.URL+"/invoices?limit=2&offset=2", nil, &page)
	g.Expect(page.Data).To(HaveLen(2))
	g.Expect(page.Data[0].ID).To(Equal(b.Invoices()[2].ID))
	g.Expect(page.Next).To(BeEmpty(), "offset paging has no token")
	g.Expect(page.HasMore).To(BeTrue())
	m := linkNext.FindStringSubmatch(resp.Header.Get("Link"))
	g.Expect(m).To(HaveLen(2))
	u, err := url.Parse(m[1])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(u.Query().Get("offset")).To(Equal("4"))
	resp = call(t, http.MethodGet, m[1], nil, &page)
	g.Expect(page.Data).To(HaveLen(1))
	g.Expect(page.HasMore).To(BeFalse())
	g.Expect(resp.Header.Get("Link")).To(BeEmpty())
}

func TestListParameters(t *testing.T) {
	b := NewBilling(BillingOptions{MaxLimit: 5, DefaultLimit: 3, Seed: 1, Data: BillingData{Invoices: 20, Start: t0}})
	srv := serve(t, b)
	cases := []struct {
		query  string
		status int
		n      int
		msg    string
	}{
		{"", http.StatusOK, 3, ""},
		{"limit=50", http.StatusOK, 5, ""},
		{"limit=0", http.StatusBadRequest, 0, "limit"},
		{"limit=x", http.StatusBadRequest, 0, "limit"},
		{"updated_since=yesterday", http.StatusBadRequest, 0, "updated_since"},
		{"page_token=garbage", http.StatusBadRequest, 0, "page_token"},
		{"offset=-1", http.StatusBadRequest, 0, "offset"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			g := NewWithT(t)
			var body struct {
				wirePage
				apiErr
			}
			resp := call(t, http.MethodGet, srv.URL+"/invoices?"+tc.query, nil, &body)
			g.Expect(resp.StatusCode).To(Equal(tc.status))
			g.Expect(body.Data).To(HaveLen(tc.n))
			if tc.msg != "" {
				g.Expect(body.Code).To(Equal("bad_request"))
				g.Expect(body.Message).To(ContainSubstring(tc.msg))
			}
		})
	}
}

func TestGetInvoice(t *testing.T) {
	g := NewWithT(t)
	b := NewBilling(BillingOptions{})
	_, err := b.Upsert(Invoice{ID: "inv_10492", CustomerID: "cus_00001", Total: "120.50", Status: StatusOpen,
		UpdatedAt: time.Date(2026, 6, 30, 23, 55, 0, 123456789, time.UTC)})
	g.Expect(err).NotTo(HaveOccurred())
	srv := serve(t, b)
	var inv wireInvoice
	resp := call(t, http.MethodGet, srv.URL+"/invoices/inv_10492", nil, &inv)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(inv).To(Equal(wireInvoice{ID: "inv_10492", CustomerID: "cus_00001", Status: "open", Total: "120.50",
		Currency: "USD", CreatedAt: "2026-06-30T23:55:00.123456Z", UpdatedAt: "2026-06-30T23:55:00.123456Z"}))
	var e apiErr
	resp = call(t, http.MethodGet, srv.URL+"/invoices/inv_404", nil, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	g.Expect(e.Code).To(Equal("not_found"))
	g.Expect(strconv.Itoa(b.Count())).To(Equal("1"))
}
