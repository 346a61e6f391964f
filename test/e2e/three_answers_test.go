package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestThreeAnswersFromKubectl: on the real cluster, for a scheduled SyncJob and a run
// started by hand with `kubectl create job --from=cronjob/<name>`, `kubectl get` and
// `kubectl syncjob status` answer the three questions: what next (the NEXT RUN column and
// the next scheduled run), did it run (the run while it is active — held by a lock on the
// sink table — as Manual, then its record, Manual too, written by the runner itself) and
// how far (the counts and the cursor).
func TestThreeAnswersFromKubectl(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	bin := buildPlugin(t)
	e := newEnv(t)
	insertInvoices(t, e.src, 1, 20, time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC))
	const name = "answers"
	// Scheduled, but for 1 January only: the CronJob starts nothing during the test.
	e.syncJob(name, func(s *syncv1.SyncJobSpec) {
		s.Suspend = ptr.To(false)
		s.Schedule = "0 2 1 1 *"
		s.TimeZone = ptr.To("UTC")
	})

	// What next: the controller's next scheduled time, in the column and in words; and the
	// preflight is over before the sink table is locked.
	var next string
	g.Eventually(func(g Gomega) {
		sj := e.get(g, name)
		g.Expect(sj.Status.NextScheduledTime).NotTo(BeNil())
		next = sj.Status.NextScheduledTime.UTC().Format(time.RFC3339)
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionPreflight)).To(BeTrue(), "preflight not passed yet")
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	g.Expect(next).To(HaveSuffix("-01-01T02:00:00Z"))
	out, err := kubectl("get", "syncjob", name, "-n", e.ns)
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(2), out)
	g.Expect(lines[0]).To(ContainSubstring("NEXT RUN"))
	g.Expect(lines[1]).To(ContainSubstring(next))
	code, out, errOut := plugin(t, bin, e.ns, "status", name)
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("  next scheduled run " + next))
	g.Expect(out).To(ContainSubstring("  no run yet"))

	// Did it run: a run started by hand is visible while it is active, as Manual.
	conn, err := pgx.Connect(ctx, e.sink)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tx.Exec(ctx, "LOCK TABLE crm_invoices IN ACCESS EXCLUSIVE MODE")
	g.Expect(err).NotTo(HaveOccurred())
	locked := true
	defer func() {
		if locked {
			_ = tx.Rollback(ctx)
		}
	}()
	const job = "answers-by-hand"
	_, err = kubectl("create", "job", job, "--from=cronjob/"+name, "-n", e.ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		sj := e.get(g, name)
		g.Expect(sj.Status.ActiveRun).NotTo(BeNil(), "no active run in status")
		g.Expect(sj.Status.ActiveRun.Name).To(Equal(job))
		g.Expect(sj.Status.ActiveRun.Trigger).To(Equal(runcontract.TriggerManual))
		g.Expect(sj.Status.ActiveRun.PodPhase).To(Equal("Running"), "the run is held by the lock, running")
		code, out, errOut := plugin(t, bin, e.ns, "status", name)
		g.Expect(code).To(Equal(0), errOut)
		g.Expect(out).To(ContainSubstring("  running now: " + job + " (Manual), started "))
		g.Expect(out).To(ContainSubstring("  suggested: a run is under way; follow it"))
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	g.Expect(tx.Rollback(ctx)).To(Succeed())
	locked = false

	// Did it run, how far: the runner's own record says Manual; nothing runs now.
	sj := e.waitRunOf(name, job, 4*time.Minute)
	last := sj.Status.LastRun
	g.Expect(last.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", last.Reason, last.Message)
	g.Expect(last.Trigger).To(Equal(runcontract.TriggerManual), "kubectl create job --from=cronjob is a manual run")
	g.Expect(last.CountsUnknown).To(BeFalse())
	g.Expect(last.Read).To(BeEquivalentTo(20))
	g.Expect(last.Upserted).To(BeEquivalentTo(20))
	g.Expect(sj.Status.Cursor).NotTo(BeNil())
	g.Eventually(func(g Gomega) {
		g.Expect(e.get(g, name).Status.ActiveRun).To(BeNil())
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	code, out, errOut = plugin(t, bin, e.ns, "status", name)
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring(": Succeeded, trigger Manual, started "))
	g.Expect(out).To(ContainSubstring("  running now: nothing"))
	g.Expect(out).To(ContainSubstring("  cursor " + sj.Status.Cursor.UpdatedAt + " / id 20"))
	g.Expect(out).To(ContainSubstring("  last run: read 20, upserted 20, unchanged 0, skipped 0, failed 0, deleted 0"))
	g.Expect(out).To(ContainSubstring("  next scheduled run " + next))
	g.Expect(out).To(ContainSubstring("  suggested: nothing to do: the last run succeeded"))
}
