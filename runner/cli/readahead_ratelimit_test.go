package cli

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/demoapi"
)

// TestSeedReadAheadStaysUnderTheRateLimit: the next page is read while the current one is
// written, yet every request of the run (page reads, lookups, batch upserts) takes its
// token from the one spec.rateLimit bucket: with the client limit at the APIs' own, neither
// API answers a single 429, and the CRM holds exactly the invoices.
func TestSeedReadAheadStaysUnderTheRateLimit(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 1000, sinkMode: "Batch",
		extra: "  rateLimit: {requestsPerSecond: \"20\", burst: 1}\n"})
	s.billing.SetFaults(demoapi.Faults{RatePerSecond: 20})
	s.crm.SetFaults(demoapi.Faults{RatePerSecond: 20})

	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Phase).To(Equal(syncv1.RunPhaseSucceeded))
	bst, cst := s.billing.Stats(), s.crm.Stats()
	g.Expect(bst.Requests+cst.Requests).To(BeNumerically(">", 40), "enough requests to pass both APIs' bursts if the limit were not kept")
	g.Expect(bst.RateLimited).To(BeZero(), "429s from the billing API")
	g.Expect(cst.RateLimited).To(BeZero(), "429s from the CRM")
	s.expectCRMEqualsBilling()
}
