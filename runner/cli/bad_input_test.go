package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// TestRecordErrorsAreRecordedNotCoerced: a non-numeric total and a missing required field
// are record errors that name the record and the field; under Skip the other records land,
// the run is PartiallySucceeded (exit 3), the failed ids are kept for a retry, and once
// the source is fixed the retry writes them.
func TestRecordErrorsAreRecordedNotCoerced(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 300, "2026-06-30 12:00:00+00")
	synctest.Exec(t, e.src,
		`UPDATE invoices SET total = 'twelve' WHERE id = 42`,
		`UPDATE invoices SET status = NULL WHERE id = 77`)

	r := e.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhasePartiallySucceeded))
	g.Expect(rec.Failed).To(Equal(int64(2)))
	g.Expect(rec.Upserted).To(Equal(int64(298)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(298)))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id IN ('billing:42', 'billing:77')`)).To(BeZero(),
		"a bad record must not be written with a default")
	// The audit lines name record, field and reason.
	g.Expect(failedLine(t, r.stderr, "42")).To(SatisfyAll(HaveKeyWithValue("field", "total"), HaveKeyWithValue("reason", "not a decimal")))
	g.Expect(failedLine(t, r.stderr, "77")).To(SatisfyAll(HaveKeyWithValue("field", "status"), HaveKeyWithValue("reason", "required field missing")))
	// The cursor passed them (they are recorded), and they wait for a retry.
	g.Expect(e.cursorOf()).To(HaveSuffix("/300"))
	g.Expect(e.checkpoint()["failedKeys"]).To(ConsistOf("42", "77"))

	// Fixed at the source without touching updated_at: only the retry of failed keys finds them.
	synctest.Exec(t, e.src, `UPDATE invoices SET total = '12.00' WHERE id = 42`, `UPDATE invoices SET status = 'open' WHERE id = 77`)
	r = e.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(synctest.String(t, e.sink, `SELECT total::text FROM crm_invoices WHERE billing_invoice_id = 'billing:42'`)).To(Equal("12.00"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(300)))
	g.Expect(e.checkpoint()["failedKeys"]).To(BeNil())
}

// TestHaltStopsBeforeTheFailedRecord: under Halt the cursor stops just before the bad
// record and the run fails (exit 1).
func TestHaltStopsBeforeTheFailedRecord(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{Extra: "  errors: {policy: Halt}\n"})
	insertInvoices(t, e.src, 1, 300, "2026-06-30 12:00:00+00")
	synctest.Exec(t, e.src, `UPDATE invoices SET total = 'n/a' WHERE id = 142`)
	r := e.sync()
	g.Expect(r.code).To(Equal(1), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseFailed))
	g.Expect(rec.Reason).To(Equal("RecordError"))
	g.Expect(rec.Message).To(ContainSubstring("142"))
	g.Expect(e.cursorOf()).To(Equal("2026-06-30T12:00:00.14Z/141"))
	g.Expect(synctest.Int(t, e.sink, `SELECT max(substr(billing_invoice_id, 9)::int) FROM crm_invoices`)).To(BeNumerically("<=", 200),
		"nothing past the failed record's page was written")
}

// TestSetupErrorsAreClear: what is wrong before anything is read fails the run with an
// error that names the culprit, writes nothing and leaves the checkpoint alone; no
// credential appears in any output.
func TestSetupErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		name  string
		job   job
		env   []string
		setup func(e *env)
		want  []string
	}{
		{name: "bad CEL expression",
			job:  job{Mapping: "  - {to: status, expr: 'record.status +', required: true}"},
			want: []string{"mapping[0] (to: status)", "compile expr"}},
		{name: "unknown source column",
			job: job{Extra: ""},
			setup: func(e *env) {
				e.writeJob(job{})
				data, _ := os.ReadFile(e.jobFile)
				_ = os.WriteFile(e.jobFile, []byte(strings.Replace(string(data), "table: invoices", "table: invoices\n      updatedAtColumn: modified_at", 1)), 0o600)
			},
			want: []string{"spec.source.postgres", "modified_at"}},
		{name: "unknown sink column",
			job:  job{Mapping: "  - {to: no_such_column, from: status}\n  - {to: status, from: status}\n  - {to: billing_customer_id, from: customer_id}\n  - {to: total, from: total, type: decimal}"},
			want: []string{"spec.sink.postgres", "no_such_column"}},
		{name: "wrong DSN",
			env:  []string{"BILLING_DB_DSN=postgres://alice:hunter2-secret@127.0.0.1:1/billing?connect_timeout=2"},
			want: []string{"spec.source.postgres", "127.0.0.1"}},
		{name: "unreachable server",
			env:  []string{"CRM_DB_DSN=postgres://bob:hunter2-secret@127.0.0.1:9/crm?connect_timeout=1"},
			want: []string{"spec.sink.postgres", "127.0.0.1"}},
		{name: "missing secret",
			setup: func(e *env) { e.unset = []string{"CRM_DB_DSN"} },
			want:  []string{`spec.sink.postgres.dsn: secret "crm-db" key "dsn": environment variable CRM_DB_DSN is not set`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, tc.job)
			insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
			if tc.setup != nil {
				tc.setup(e)
			}
			e.extraEnv = append(e.extraEnv, tc.env...)
			r := e.sync()
			g.Expect(r.code).To(Equal(1), r.stdout+r.stderr)
			for _, w := range tc.want {
				g.Expect(r.stderr).To(ContainSubstring(w))
			}
			g.Expect(r.stdout + r.stderr).NotTo(ContainSubstring("hunter2-secret"))
			g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
			_, err := os.Stat(filepath.Join(e.state, "checkpoint.json"))
			g.Expect(os.IsNotExist(err)).To(BeTrue(), "a run that never started stored a checkpoint")
		})
	}
}

// failedLine finds the audit line of the failed record id in the log output.
func failedLine(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "record failed" && m["id"] == id {
			return m
		}
	}
	t.Fatalf("no 'record failed' line for id %s in:\n%s", id, logs)
	return nil
}
