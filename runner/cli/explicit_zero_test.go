package cli

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestExplicitZerosAreKept: a job file's explicit 0 is the user's value, not "unset".
// errors.maxErrors: 0 halts the run at the first record error (more than 0 errors) instead
// of allowing the default 100; reconcile.sample: 0 turns the drift check off instead of
// sampling the default 20.
func TestExplicitZerosAreKept(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  errors: {maxErrors: 0}\n  reconcile: {sample: 0}\n"})
	insertInvoices(t, e.src, 1, 300, "2026-06-30 12:00:00+00")
	synctest.Exec(t, e.src, `UPDATE invoices SET total = 'n/a' WHERE id = 142`)

	r := e.sync()
	g.Expect(r.code).To(Equal(1), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseFailed))
	g.Expect(rec.Reason).To(Equal(runcontract.ReasonTooManyErrors))
	g.Expect(rec.Message).To(ContainSubstring("more than 0 record errors"))
	g.Expect(rec.Failed).To(Equal(int64(1)))
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.14Z/141"))
	g.Expect(rec.Reconciliation).To(BeNil(), "sample: 0 turns the drift check off")
}
