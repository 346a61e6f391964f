package demoapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestConcurrentUpsertsKeepKeysUnique(t *testing.T) {
	g := NewWithT(t)
	c, base := newTestCRM(t, CRMOptions{})
	var wg sync.WaitGroup
	statuses := make(chan int, 6*30)
	for w := range 6 {
		wg.Go(func() {
			for n := range 30 {
				body := fmt.Sprintf(`{"status": "open", "writer": %d}`, w%2)
				req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/invoices/billing_invoice_id/inv_%02d", base, n), strings.NewReader(body))
				if err != nil {
					statuses <- -1
					continue
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- -1
					continue
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		g.Expect(s).To(BeElementOf(http.StatusOK, http.StatusCreated))
	}
	g.Expect(c.Count()).To(Equal(30))
	g.Expect(c.DuplicateKeys()).To(BeEmpty())
	g.Expect(c.Stats().Created).To(Equal(int64(30)))
}

func TestConcurrentLateUpdatesWhileListing(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock(t0.Add(100 * time.Hour))
	b := NewBilling(BillingOptions{Clock: clock.Now, Seed: 4, Data: BillingData{Invoices: 300, Start: t0}})
	srv := serve(t, b)
	var wg sync.WaitGroup
	var payErr error
	wg.Go(func() {
		for n := 1; n <= 300 && payErr == nil; n += 7 {
			_, payErr = b.Pay(fmt.Sprintf("inv_%05d", n), time.Time{})
		}
	})
	ids := walk(t, srv.URL, "token", 25)
	wg.Wait()
	g.Expect(payErr).NotTo(HaveOccurred())
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	g.Expect(seen).To(HaveLen(300), "a token walk misses nothing while invoices move")
	g.Expect(b.Count()).To(Equal(300))
}

// BenchmarkList100k measures one list page of 100 from the middle of 100,000 invoices.
func BenchmarkList100k(b *testing.B) {
	bill := NewBilling(BillingOptions{Seed: 1, Data: BillingData{Invoices: 100000, Start: t0, Ties: []int{300}}})
	mid := bill.Invoices()[50000]
	url := fmt.Sprintf("/invoices?limit=100&updated_since=%s&after_id=%s", mid.UpdatedAt.Format(time.RFC3339Nano), mid.ID)
	for b.Loop() {
		rec := httptest.NewRecorder()
		bill.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkPay100k measures a late update (a move in the sorted slice) among 100,000
// invoices.
func BenchmarkPay100k(b *testing.B) {
	bill := NewBilling(BillingOptions{Seed: 1, Data: BillingData{Invoices: 100000, Start: t0}})
	n := 0
	for b.Loop() {
		n = n%100000 + 1
		if _, err := bill.Pay(fmt.Sprintf("inv_%06d", n), t0.Add(time.Duration(n)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}
