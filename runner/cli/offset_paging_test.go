package cli

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// TestOffsetPagingWarns: offset pagination over a billing API that changes while the run
// pages loses a record with no error (an invoice committed late, between two page
// requests, shifts the offsets by one). The run cannot detect that, so every run that pages
// by offset says so: a warning naming offset pagination in the run record (and in
// `runner plan`).
func TestOffsetPagingWarns(t *testing.T) {
	g := NewWithT(t)
	var s *seed
	var lists atomic.Int32
	s = newSeed(t, seedOpts{invoices: 300,
		pagination: "{type: Offset, tokenParam: offset}",
		wrapBilling: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(w, r)
				// After the first page: an invoice committed late, stamped at the start.
				if r.Method == http.MethodGet && r.URL.Path == "/invoices" && lists.Add(1) == 1 {
					first := sortedInvoices(s.billing)[0]
					_, err := s.billing.Upsert(demoapi.Invoice{CustomerID: first.CustomerID, Total: "1.00",
						UpdatedAt: first.UpdatedAt.Add(-time.Millisecond)})
					if err != nil {
						t.Error(err)
					}
				}
			})
		},
	})

	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(s.billing.Count()).To(Equal(301))
	g.Expect(s.crm.Count()).To(BeNumerically("<", 301), "the test must reproduce the loss: a record moved between pages")
	g.Expect(rec.Warnings).To(ContainElement(And(ContainSubstring("offset pagination"), ContainSubstring("can miss"))),
		"a run that pages by offset must warn that it can miss records")
	g.Expect(strings.Join(rec.Warnings, " ")).To(ContainSubstring("reset"), "the warning says how to re-read everything")

	r = s.run("plan", "-f", s.jobFile)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.stdout).To(ContainSubstring("offset pagination"))
}
