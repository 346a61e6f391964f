package httpapi

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestLookupThenWriteLostCreate: a create that took effect but answered 503 is not posted
// again blindly: the key is searched first, so there is one object.
func TestLookupThenWriteLostCreate(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	crm.failAfter = 1
	sink := crm.sink(t, ModeLookupThenWrite, nil)
	res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Outcome).To(BeElementOf(connector.Written, connector.Unchanged))
	g.Expect(crm.keys()).To(Equal([]string{"billing:a"}))
	g.Expect(crm.requestCount("POST /invoices")).To(Equal(1))
	g.Expect(crm.requestCount("GET /invoices/search")).To(Equal(2))
}

// TestLookupThenWriteCreatesLostEveryTime: creates that keep failing end the Upsert with
// an error after a bounded number of attempts, without duplicates.
func TestLookupThenWriteCreatesLostEveryTime(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	crm.addFault("POST /invoices", http.StatusServiceUnavailable, 1000)
	sink := crm.sink(t, ModeLookupThenWrite, nil)
	res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
	g.Expect(err).To(MatchError(ContainSubstring("503")))
	g.Expect(res).To(BeNil())
	g.Expect(crm.requestCount("POST /invoices")).To(Equal(createAttempts))
	g.Expect(crm.keys()).To(BeEmpty())
}
