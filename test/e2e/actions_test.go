package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// runTimeout bounds one small requested run: Job, Pod, runner, status.
const runTimeout = 2 * time.Minute

// TestOperatorRequests drives one SyncJob through the three operator requests, each an
// annotation holding a token: a run, a reset of the checkpoint, and a backfill of a range
// that only the backfill can reach. Each token is handled once and recorded in status.
func TestOperatorRequests(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	e := newEnv(t)
	const name = "invoices"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := t0.Add(299 * time.Second)
	insertInvoices(t, e.src, 1, 300, t0) // invoice i at t0 + (i-1)s
	e.syncJob(name, nil)                 // suspended: only requested runs; safety gap 1m

	// A run request: one Manual run that copies everything and stores the cursor.
	job := e.requestRun(name, "run-1")
	sj := e.waitRunOf(name, job, runTimeout)
	g.Expect(sj.Status.LastHandledRunRequest).To(Equal("run-1"))
	run := sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	g.Expect(run.Trigger).To(Equal("Manual"))
	g.Expect(run.Read).To(BeEquivalentTo(300))
	g.Expect(run.Upserted).To(BeEquivalentTo(300))
	expectCursor(g, sj.Status.Cursor, last, "300")
	expectCursor(g, wire(e.checkpointState(g, name).Cursor), last, "300")
	expectSinkEqualsSource(t, e)
	g.Eventually(func(g Gomega) {
		c := ready(e.get(g, name))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(BeEquivalentTo("True"))
		g.Expect(c.Reason).To(Equal(syncv1.ReasonSucceeded))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// A reset request starts a reset Job (recorded as handled when the Job is created);
	// the Job moves the stored cursor back, holding the run lock, some time later. The
	// next run starts there, minus the safety gap, and finds the sink already up to date.
	resetTo := t0.Add(100 * time.Second)
	e.annotate(name, map[string]string{
		syncv1.ResetRequestedAnnotation: "reset-1",
		syncv1.ResetToAnnotation:        resetTo.Format(time.RFC3339),
	})
	g.Eventually(func(g Gomega) {
		g.Expect(e.get(g, name).Status.LastHandledResetRequest).To(Equal("reset-1"))
	}).WithTimeout(time.Minute).Should(Succeed())
	g.Eventually(func(g Gomega) {
		expectCursor(g, wire(e.checkpointState(g, name).Cursor), resetTo, "")
	}).WithTimeout(runTimeout).Should(Succeed(), "the reset Job did not move the checkpoint")

	job = e.requestRun(name, "run-2")
	sj = e.waitRunOf(name, job, runTimeout)
	run = sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	expectCursor(g, run.CursorStart, resetTo.Add(-time.Minute), "")
	fromStart := synctest.Int(t, e.src, `SELECT count(*) FROM invoices WHERE updated_at >= $1`, resetTo.Add(-time.Minute))
	g.Expect(run.Read).To(Equal(fromStart), "the run did not start at the reset cursor minus the safety gap")
	g.Expect(run.Upserted).To(BeZero(), "the sink already held every record")
	// The reset was applied once: the run moved the cursor forward again, and the
	// reconciles since (the reset annotation is still there) did not move it back.
	expectCursor(g, wire(e.checkpointState(g, name).Cursor), last, "300")

	// Invoices committed late with times far behind the cursor (more than the safety gap):
	// a normal run does not see them ...
	insertInvoices(t, e.src, 1001, 10, t0.Add(10*time.Second))
	job = e.requestRun(name, "run-3")
	sj = e.waitRunOf(name, job, runTimeout)
	g.Expect(sj.Status.LastRun.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE billing_invoice_id LIKE 'billing:100_'`)).To(BeZero(),
		"late invoices behind the safety gap reached the sink without a backfill")

	// ... a backfill over their range does, and leaves the main cursor where it was.
	job = e.requestBackfill(name, "backfill-1", t0, t0.Add(30*time.Second))
	sj = e.waitRunOf(name, job, runTimeout)
	g.Expect(sj.Status.LastHandledBackfillRequest).To(Equal("backfill-1"))
	run = sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	g.Expect(run.Trigger).To(Equal("Backfill"))
	g.Expect(run.Read).To(BeEquivalentTo(40), "invoices 1-30 and the 10 late ones are in [t0, t0+30s)")
	g.Expect(run.Upserted).To(BeEquivalentTo(10))
	expectSinkEqualsSource(t, e)
	st := e.checkpointState(g, name)
	expectCursor(g, wire(st.Cursor), last, "300")
	g.Expect(st.Backfills).To(HaveKey("backfill-1"))
	g.Expect(st.Backfills["backfill-1"].Done).To(BeTrue())
	expectCursor(g, e.get(g, name).Status.Cursor, last, "300")

	// Each request token got exactly one Job (a reset runs as a Job too), though every
	// reconcile since saw the annotations.
	tokens := map[string]int{}
	for _, j := range e.jobs(g, name) {
		if j.Labels[runcontract.LabelPreflight] != "" {
			continue // the generation's preflight, not a request
		}
		tokens[j.Annotations[runcontract.AnnotationRequest]]++
	}
	g.Expect(tokens).To(Equal(map[string]int{"run-1": 1, "run-2": 1, "run-3": 1, "reset-1": 1, "backfill-1": 1}))

	// Four runs, four outcome Events: one each, from whoever recorded the run.
	e.expectOutcomeEvents(name, "RunSucceeded", "RunSucceeded", "RunSucceeded", "RunSucceeded")
}

// expectCursor asserts that a status or checkpoint cursor is at time at and id.
func expectCursor(g Gomega, c *syncv1.Cursor, at time.Time, id string) {
	g.ExpectWithOffset(1, c).NotTo(BeNil(), "no cursor")
	got, err := time.Parse(time.RFC3339Nano, c.UpdatedAt)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, got.Equal(at)).To(BeTrue(), "cursor at %s, want %s", c.UpdatedAt, at.Format(time.RFC3339Nano))
	g.ExpectWithOffset(1, c.ID).To(Equal(id))
}

// wire renders a checkpoint cursor as the status does (nil: the beginning).
func wire(c *cursor.Cursor) *syncv1.Cursor {
	if c == nil {
		return nil
	}
	return &syncv1.Cursor{UpdatedAt: c.Format(), ID: c.ID}
}

// expectSinkEqualsSource asserts that the sink holds exactly the mapped source; when it
// does not, the first differing rows are in the failure message.
func expectSinkEqualsSource(t *testing.T, e *env) {
	t.Helper()
	srcN, srcSum := synctest.Fingerprint(t, e.src, synctest.SourceFingerprint)
	sinkN, sinkSum := synctest.Fingerprint(t, e.sink, synctest.SinkFingerprint)
	if srcN == sinkN && srcSum == sinkSum {
		return
	}
	t.Fatalf("the sink differs from the mapped source: %d rows (md5 %s) in the sink, %d (md5 %s) in the source; first differences:\n%s",
		sinkN, sinkSum, srcN, srcSum, strings.Join(rowDiff(t, e, 10), "\n"))
}

// rowDiff lists up to n keys whose mapped source row and sink row differ.
func rowDiff(t *testing.T, e *env, n int) []string {
	src := rowsByKey(t, e.src, `SELECT 'billing:' || id, customer_id || '|' || status || '|' || total::numeric(12,2)::text || '|' || updated_at::text FROM invoices`)
	sink := rowsByKey(t, e.sink, `SELECT billing_invoice_id, billing_customer_id || '|' || status || '|' || total::text || '|' || source_updated_at::text || ' (run ' || coalesce(sync_run_id, '') || ')' FROM crm_invoices`)
	var out []string
	for k, v := range src {
		if w, ok := sink[k]; !ok || !strings.HasPrefix(w, v+" ") {
			out = append(out, fmt.Sprintf("%s: source %q, sink %q", k, v, w))
		}
	}
	for k, w := range sink {
		if _, ok := src[k]; !ok {
			out = append(out, fmt.Sprintf("%s: not in the source, sink %q", k, w))
		}
	}
	sort.Strings(out)
	return out[:min(n, len(out))]
}

// rowsByKey maps the first column of q's rows to the second.
func rowsByKey(t *testing.T, dsn, q string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
