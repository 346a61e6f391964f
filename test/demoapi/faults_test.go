package demoapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestTokenBucketAnswers429WithRetryAfter(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock(t0)
	b := NewBilling(BillingOptions{Clock: clock.Now, Faults: Faults{RatePerSecond: 2, Burst: 2}})
	srv := serve(t, b)
	get := func() *http.Response { return call(t, http.MethodGet, srv.URL+"/invoices", nil, nil) }

	resp := get()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("RateLimit-Limit")).To(Equal("2"))
	g.Expect(resp.Header.Get("RateLimit-Remaining")).To(Equal("1"))
	resp = get()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("RateLimit-Remaining")).To(Equal("0"))
	g.Expect(resp.Header.Get("RateLimit-Reset")).To(Equal("1"))

	var e apiErr
	resp = call(t, http.MethodGet, srv.URL+"/invoices", nil, &e)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"))
	g.Expect(e.Code).To(Equal("rate_limited"))

	clock.Add(500 * time.Millisecond) // one token back
	g.Expect(get().StatusCode).To(Equal(http.StatusOK))
	g.Expect(get().StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(b.Stats()).To(And(
		HaveField("Requests", int64(5)), HaveField("RateLimited", int64(2))))

	b.SetFaults(Faults{RatePerSecond: 0.1}) // one request per 10 s, burst 1
	g.Expect(get().StatusCode).To(Equal(http.StatusOK))
	resp = get()
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("10"))
	clock.Add(4 * time.Second)
	g.Expect(get().Header.Get("Retry-After")).To(Equal("6"))
}

func TestQuotaAnswers429AfterNRequests(t *testing.T) {
	t.Run("the seed scenario: 429 after 500 invoices, until reset", func(t *testing.T) {
		g := NewWithT(t)
		b := NewBilling(BillingOptions{Seed: 2, Data: BillingData{Invoices: 1000, Start: t0}, Faults: Faults{QuotaRequests: 5}})
		srv := serve(t, b)
		read := 0
		next := srv.URL + "/invoices?limit=100"
		var resp *http.Response
		for {
			var page wirePage
			resp = call(t, http.MethodGet, next, nil, &page)
			if resp.StatusCode != http.StatusOK {
				break
			}
			read += len(page.Data)
			next = srv.URL + "/invoices?limit=100&page_token=" + page.Next
		}
		g.Expect(read).To(Equal(500))
		g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
		g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"))
		g.Expect(call(t, http.MethodGet, next, nil, nil).StatusCode).To(Equal(http.StatusTooManyRequests), "still refused")

		g.Expect(call(t, http.MethodPost, srv.URL+"/admin/quota/reset", nil, nil).StatusCode).To(Equal(http.StatusNoContent))
		var page wirePage
		g.Expect(call(t, http.MethodGet, next, nil, &page).StatusCode).To(Equal(http.StatusOK))
		g.Expect(page.Data).To(HaveLen(100))
		g.Expect(b.Stats().Records).To(Equal(int64(600)))
		g.Expect(b.Stats().RateLimited).To(Equal(int64(2)))
	})
	t.Run("renews itself after QuotaReset", func(t *testing.T) {
		g := NewWithT(t)
		clock := newFakeClock(t0)
		b := NewBilling(BillingOptions{Clock: clock.Now, Faults: Faults{QuotaRequests: 2, QuotaReset: 30 * time.Second}})
		srv := serve(t, b)
		get := func() *http.Response { return call(t, http.MethodGet, srv.URL+"/invoices", nil, nil) }
		g.Expect(get().StatusCode).To(Equal(http.StatusOK))
		g.Expect(get().StatusCode).To(Equal(http.StatusOK))
		resp := get()
		g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
		g.Expect(resp.Header.Get("Retry-After")).To(Equal("30"))
		clock.Add(10 * time.Second)
		g.Expect(get().Header.Get("Retry-After")).To(Equal("20"))
		clock.Add(20 * time.Second)
		g.Expect(get().StatusCode).To(Equal(http.StatusOK))
	})
}

func TestInjectedFailures(t *testing.T) {
	t.Run("every k-th request", func(t *testing.T) {
		g := NewWithT(t)
		b := NewBilling(BillingOptions{Faults: Faults{FailEvery: 3}})
		srv := serve(t, b)
		var statuses []int
		for range 7 {
			statuses = append(statuses, call(t, http.MethodGet, srv.URL+"/invoices", nil, nil).StatusCode)
		}
		g.Expect(statuses).To(Equal([]int{200, 200, 503, 200, 200, 503, 200}))
		g.Expect(b.Stats().Injected).To(Equal(int64(2)))
	})
	t.Run("probability with a seed is reproducible", func(t *testing.T) {
		g := NewWithT(t)
		run := func(seed int64) []int {
			srv := serve(t, NewBilling(BillingOptions{Seed: seed, Faults: Faults{FailProbability: 0.5, FailStatus: 502}}))
			var statuses []int
			for range 30 {
				statuses = append(statuses, call(t, http.MethodGet, srv.URL+"/invoices", nil, nil).StatusCode)
			}
			return statuses
		}
		first := run(11)
		g.Expect(first).To(ContainElement(502))
		g.Expect(first).To(ContainElement(200))
		g.Expect(run(11)).To(Equal(first))
	})
	t.Run("after apply: the write lands, the answer is lost", func(t *testing.T) {
		g := NewWithT(t)
		c := NewCRM(CRMOptions{Faults: Faults{FailEvery: 1, FailAfterApply: true}})
		srv := serve(t, c)
		resp := call(t, http.MethodPut, srv.URL+"/invoices/billing_invoice_id/inv_1", map[string]any{"status": "open"}, nil)
		g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		g.Expect(c.Find("inv_1")).To(HaveLen(1))
		c.SetFaults(Faults{})
		var o obj
		resp = call(t, http.MethodPut, srv.URL+"/invoices/billing_invoice_id/inv_1", map[string]any{"status": "open"}, &o)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(o.Result).To(Equal("unchanged"))
		g.Expect(c.Count()).To(Equal(1))
	})
}

func TestLatencyEndsWithTheClientRequest(t *testing.T) {
	g := NewWithT(t)
	b := NewBilling(BillingOptions{Faults: Faults{Latency: time.Hour}})
	srv := serve(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/invoices", nil)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = http.DefaultClient.Do(req)
	g.Expect(err).To(MatchError(context.DeadlineExceeded))
	g.Eventually(func() int64 { return b.Stats().Requests }).Should(Equal(int64(1)))
	g.Expect(b.Stats().Records).To(BeZero())
}

func TestAPIKey(t *testing.T) {
	const key = "s3cret-key"
	b := NewBilling(BillingOptions{APIKey: key})
	srv := serve(t, b)
	cases := []struct {
		name   string
		header string
		value  string
		status int
	}{
		{"none", "", "", http.StatusUnauthorized},
		{"bearer", "Authorization", "Bearer " + key, http.StatusOK},
		{"api key header", "X-API-Key", key, http.StatusOK},
		{"wrong bearer", "Authorization", "Bearer nope", http.StatusUnauthorized},
		{"basic is not accepted", "Authorization", "Basic " + key, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/invoices", nil)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			resp, err := http.DefaultClient.Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			var sb strings.Builder
			_, _ = fmt.Fprint(&sb, resp.Header)
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(tc.status))
			g.Expect(string(buf[:n])+sb.String()).NotTo(ContainSubstring(key), "the credential is never echoed")
		})
	}
	NewWithT(t).Expect(b.Stats().Unauthorized).To(Equal(int64(3)))
	NewWithT(t).Expect(call(t, http.MethodGet, srv.URL+"/admin/stats", nil, nil).StatusCode).To(Equal(http.StatusOK), "admin needs no key")
}

func TestAdminFaultsEndpoint(t *testing.T) {
	g := NewWithT(t)
	c := NewCRM(CRMOptions{})
	srv := serve(t, c)
	resp := call(t, http.MethodPut, srv.URL+"/admin/faults", `{"failEvery": 1, "failStatus": 500, "quotaReset": "2s", "latency": "0s"}`, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(c.Faults()).To(Equal(Faults{FailEvery: 1, FailStatus: 500, QuotaReset: 2 * time.Second}))
	g.Expect(call(t, http.MethodGet, srv.URL+"/accounts", nil, nil).StatusCode).To(Equal(http.StatusInternalServerError))

	var stats Stats
	g.Expect(call(t, http.MethodGet, srv.URL+"/admin/stats", nil, &stats).StatusCode).To(Equal(http.StatusOK), "admin is never failed")
	g.Expect(stats.Injected).To(Equal(int64(1)))
	g.Expect(stats.Requests).To(Equal(int64(1)), "admin requests are not counted")

	var fw faultsWire
	call(t, http.MethodGet, srv.URL+"/admin/faults", nil, &fw)
	g.Expect(fw.QuotaReset).To(Equal("2s"))

	for _, bad := range []string{`{"latency": "soon"}`, `{"failStatus": 404}`, `{"nope": 1}`} {
		var e apiErr
		g.Expect(call(t, http.MethodPut, srv.URL+"/admin/faults", bad, &e).StatusCode).To(Equal(http.StatusBadRequest), bad)
		g.Expect(e.Code).To(Equal("bad_request"))
	}
	g.Expect(call(t, http.MethodPut, srv.URL+"/admin/faults", `{}`, nil).StatusCode).To(Equal(http.StatusOK))
	g.Expect(call(t, http.MethodGet, srv.URL+"/accounts", nil, nil).StatusCode).To(Equal(http.StatusOK))
}
