package cli

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestMappingFromColumnTypoFailsSetup: a from path whose first segment is not a column of
// the PostgreSQL source table (customer_idd) fails the run at setup, naming the entry and
// the table, before anything is read or written; the checkpoint is not created. Before the
// fix every row was written with a NULL customer and the run Succeeded.
func TestMappingFromColumnTypoFailsSetup(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Mapping: `  - {to: billing_customer_id, from: customer_idd}
  - {to: status, from: status, required: true}
  - {to: total, from: total, type: decimal, required: true}`})
	// A nullable sink column: nothing downstream would catch the NULLs.
	synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices ALTER billing_customer_id DROP NOT NULL`)
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")

	r := e.sync()
	g.Expect(r.code).To(Equal(1), r.stdout+r.stderr)
	g.Expect(r.stderr).To(ContainSubstring(`spec.mapping[0].from: column "customer_idd" does not exist in table "invoices"`))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
	_, err := os.Stat(filepath.Join(e.state, "checkpoint.json"))
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "a run that never started stored a checkpoint")
}

// TestMappingExprColumnTypoFailsSetup: an expression reading record.<column> that the
// table does not have fails at setup too, naming the entry's expr.
func TestMappingExprColumnTypoFailsSetup(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Mapping: `  - {to: billing_customer_id, expr: 'has(record.customer_idd) ? record.customer_idd : "none"'}
  - {to: status, from: status, required: true}
  - {to: total, from: total, type: decimal, required: true}`})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")

	r := e.sync()
	g.Expect(r.code).To(Equal(1), r.stdout+r.stderr)
	g.Expect(r.stderr).To(ContainSubstring(`spec.mapping[0].expr: column "customer_idd" does not exist in table "invoices"`))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
}
