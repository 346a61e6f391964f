package e2e

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

const crashRows = 200_000

// TestRunnerPodForceDeletedMidRun: the runner Pod is deleted with --grace-period=0 --force
// in the middle of a 200k-row run. The next run resumes from the stored checkpoint and
// completes, and the sink then equals the mapped source exactly: nothing missing, nothing
// duplicated, every field as the source has it now.
func TestRunnerPodForceDeletedMidRun(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	e := newEnv(t)
	const name = "crash"
	// Groups of 7 invoices share an updated_at, so ties cross page boundaries.
	synctest.Exec(t, e.src, `INSERT INTO invoices
		SELECT i, 'cus_' || (i % 97), (ARRAY['open','paid','void'])[1 + i % 3],
		       ((i * 7919) % 100000)::text || '.' || lpad((i % 100)::text, 2, '0'),
		       timestamptz '2026-04-01 00:00:00.123456+00' + (i / 7) * interval '1 second'
		FROM generate_series(1, 200000) AS i`)
	e.syncJob(name, func(s *syncv1.SyncJobSpec) { s.PageSize = 500 })

	job := e.requestRun(name, "run-1")
	var pod string
	var atKill int64
	g.Eventually(func(g Gomega) {
		pods := e.pods(g, job)
		g.Expect(pods).To(HaveLen(1))
		g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))
		pod = pods[0].Name
		atKill = synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)
		g.Expect(atKill).To(BeNumerically(">=", 10_000), "the run has not got far enough yet")
	}).WithTimeout(2 * time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())
	_, err := kubectl("-n", e.ns, "delete", "pod", pod, "--grace-period=0", "--force", "--wait=false")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(atKill).To(BeNumerically("<", crashRows), "the run had finished before its Pod was deleted")
	t.Logf("deleted Pod %s with %d of %d rows in the sink", pod, atKill, crashRows)

	// The killed run is recorded as not having succeeded, by the runner (Interrupted, when
	// SIGTERM reached it) or by the controller (the Pod vanished before reporting).
	sj := e.waitRunOf(name, job, 2*time.Minute)
	g.Expect(sj.Status.LastRun.Phase).NotTo(Equal(syncv1.RunPhaseSucceeded))
	t.Logf("killed run recorded as %s (%s): %s", sj.Status.LastRun.Phase, sj.Status.LastRun.Reason, sj.Status.LastRun.Message)
	stored := e.checkpointState(g, name).Cursor
	g.Expect(stored).NotTo(BeNil(), "the killed run stored no checkpoint")

	// Meanwhile the source moves on: changed invoices must arrive too. (Every change
	// changes a mapped value: the sink leaves a row whose values are equal alone, its
	// stored source version included.)
	synctest.Exec(t, e.src, `UPDATE invoices SET status = 'paid', total = (total::numeric + 1)::text,
		updated_at = updated_at + interval '1 day' WHERE id % 1000 = 0`)

	// A runner killed before it could give its run lock back leaves the Lease held until
	// it expires; a run started before that would find the lock taken and do nothing.
	e.waitLeaseFree(name, time.Minute)
	job = e.requestRun(name, "run-2")
	sj = e.waitRunOf(name, job, 3*time.Minute)
	run := sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	expectCursor(g, run.CursorStart, stored.UpdatedAt.Add(-time.Minute), "") // resumed: the stored cursor minus the safety gap
	g.Expect(run.Read).To(BeNumerically("<", crashRows), "the run started over instead of resuming")
	expectSinkEqualsSource(t, e)
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeEquivalentTo(crashRows))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices WHERE status = 'paid' AND substr(billing_invoice_id, 9)::bigint % 1000 = 0`)).
		To(BeEquivalentTo(crashRows / 1000))
	var maxAt time.Time
	var maxID int64
	synctest.Scan(t, e.src, `SELECT updated_at, id FROM invoices ORDER BY updated_at DESC, id DESC LIMIT 1`, nil, &maxAt, &maxID)
	expectCursor(g, sj.Status.Cursor, maxAt, strconv.FormatInt(maxID, 10))
}
