package httpapi

import (
	"errors"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestBatchAnswerMissingRecord: a record the batch answer neither lists as a result nor
// as an error is Failed, never assumed written.
func TestBatchAnswerMissingRecord(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	crm.dropBatch["billing:b"] = true
	sink := crm.sink(t, ModeBatch, nil)
	res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2"), wrec("c", 1, "3")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Failed, connector.Written}))
	var re *connector.RecordError
	g.Expect(errors.As(res[1].Err, &re)).To(BeTrue())
	g.Expect(re.Reason).To(Equal(ReasonNoResult))
	g.Expect(re.ID).To(Equal("b"))
}

// TestBatchRequests: batches hold at most batchSize inputs and never one key twice.
func TestBatchRequests(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	sink := crm.sink(t, ModeBatch, nil) // batch size 2
	batch := []connector.WriteRecord{wrec("a", 1, "1"), wrec("a", 2, "2"), wrec("b", 1, "3"), wrec("c", 1, "4"), wrec("d", 1, "5")}
	res, err := sink.Upsert(t.Context(), batch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(HaveEach(connector.Written))
	// [a] [a b] [c d]: the second a waits for the next request.
	g.Expect(crm.requestCount("POST /invoices/batch")).To(Equal(3))
	g.Expect(crm.state()).To(ContainElement(`billing:a {"source_updated_at":"2026-06-30T23:57:00Z","status":"open","total":2}`))
}

// TestBatchRefusedAsAWhole: a 4xx for the whole batch request is not a record's fault:
// Upsert fails with the API's message and reports nothing.
func TestBatchRefusedAsAWhole(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	crm.addFault("POST /invoices/batch", http.StatusBadRequest, 1)
	sink := crm.sink(t, ModeBatch, nil)
	res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
	g.Expect(err).To(MatchError(ContainSubstring("injected failure")))
	g.Expect(res).To(BeNil())
}
