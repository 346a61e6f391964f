package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/test/demoapi"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// explain runs `runner explain` for id and returns its output; it must exit 0.
func (e *env) explain(id string) string {
	e.t.Helper()
	r := e.run("explain", "-f", e.jobFile, "--state-dir", e.state, id)
	NewWithT(e.t).Expect(r.code).To(Equal(0), r.stderr)
	return r.stdout
}

// verdictOf is the first word of explain's output.
func verdictOf(out string) string {
	v, _, _ := strings.Cut(out, ":")
	return v
}

// TestExplainPostgres: every verdict of `runner explain` on a real PostgreSQL pair, each
// with its evidence and next action, the missed late commit's backfill command run as
// printed, and the record log surviving into the next run.
func TestExplainPostgres(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")

	// Nothing stored yet.
	out := e.explain("5")
	g.Expect(verdictOf(out)).To(Equal("NotYetSynced"), out)
	g.Expect(out).To(ContainSubstring("no run has stored a cursor yet"))
	g.Expect(out).To(ContainSubstring("sink:       no record with key billing:5"))
	g.Expect(out).To(ContainSubstring("runner sync -f " + e.jobFile + " --state-dir " + e.state))

	g.Expect(e.sync().code).To(Equal(0))
	out = e.explain("5")
	g.Expect(verdictOf(out)).To(Equal("Synced"), out)
	g.Expect(out).To(ContainSubstring("source:     has 5, updatedAt 2026-06-30T12:00:00.004Z; maps to key billing:5"))
	g.Expect(out).To(ContainSubstring("every mapped field equal"))
	g.Expect(out).To(MatchRegexp(`run \S+ \(Local, Succeeded\) read \(beginning, 2026-06-30T12:00:00.009Z/10\]`))
	g.Expect(out).To(ContainSubstring("not on the failedKeys retry list"))

	// Never existed.
	out = e.explain("999")
	g.Expect(verdictOf(out)).To(Equal("NotInSource"), out)
	g.Expect(out).To(ContainSubstring("never existed in the source"))

	// Edited in the destination.
	synctest.Exec(t, e.sink, `UPDATE crm_invoices SET status = 'void' WHERE billing_invoice_id = 'billing:5'`)
	out = e.explain("5")
	g.Expect(verdictOf(out)).To(Equal("Different"), out)
	g.Expect(out).To(ContainSubstring("differs in the sink in status"))
	g.Expect(out).To(ContainSubstring("edited in the destination"))
	g.Expect(out).To(ContainSubstring(`status: source "open", sink "void"`))

	// Late commits: one inside the safety gap, one outside it.
	synctest.Exec(t, e.src,
		`INSERT INTO invoices VALUES (500, 'cus_1', 'open', '1.00', '2026-06-30 11:57:00+00')`,
		`INSERT INTO invoices VALUES (600, 'cus_1', 'open', '2.00', '2026-06-30 11:50:00.25+00')`)
	out = e.explain("500")
	g.Expect(verdictOf(out)).To(Equal("NotYetSynced"), out)
	g.Expect(out).To(ContainSubstring("within the safety gap 5m0s"))
	out = e.explain("600")
	g.Expect(verdictOf(out)).To(Equal("MissedLateCommit"), out)
	g.Expect(out).To(ContainSubstring("more than the safety gap 5m0s"))
	backfill := "runner sync -f " + e.jobFile + " --state-dir " + e.state +
		" --backfill-from 2026-06-30T11:50:00Z --backfill-to 2026-06-30T11:50:01Z"
	g.Expect(out).To(ContainSubstring(backfill))
	g.Expect(out).To(ContainSubstring("kubectl annotate syncjob invoices-to-crm sync.checkpointed.io/backfill-from=2026-06-30T11:50:00Z " +
		"sync.checkpointed.io/backfill-to=2026-06-30T11:50:01Z sync.checkpointed.io/backfill-requested-at="))
	// The printed command recovers it.
	r := e.run(strings.Fields(backfill)[1:]...)
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(verdictOf(e.explain("600"))).To(Equal("Synced"))

	// A record that fails: on the retry list, with its run, field and reason; the log
	// keeps it across runs.
	synctest.Exec(t, e.src, `INSERT INTO invoices VALUES (700, 'cus_1', 'open', 'abc', '2026-06-30 12:30:00+00')`)
	r = e.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	failRun := r.record(t).RunID
	g.Expect(e.sync().code).To(Equal(3)) // retried first, fails again: a new run
	out = e.explain("700")
	g.Expect(verdictOf(out)).To(Equal("Failed"), out)
	g.Expect(out).To(ContainSubstring("fails to map: field total: "))
	g.Expect(out).To(ContainSubstring("on the failedKeys list"))
	g.Expect(out).To(ContainSubstring("record log: failed in run "))
	g.Expect(out).To(ContainSubstring("source:     has 700"))
	g.Expect(out).NotTo(ContainSubstring(failRun+" at"), "the latest failure is shown, not the first")

	// Deleted in the source by its marker (spec.deletes Delete), then synced.
	synctest.Exec(t, e.src, `ALTER TABLE invoices ADD COLUMN deleted_at timestamptz`,
		`UPDATE invoices SET deleted_at = now(), updated_at = '2026-06-30 13:00:00+00' WHERE id = 6`)
	e.writeJob(job{Extra: "  deletes: {mode: Delete, sourceField: deleted_at}\n"})
	out = e.explain("6")
	g.Expect(verdictOf(out)).To(Equal("DeletedInSource"), out)
	g.Expect(out).To(ContainSubstring("not synced yet"))
	g.Expect(e.sync().code).To(Equal(3))
	out = e.explain("6")
	g.Expect(verdictOf(out)).To(Equal("DeletedInSource"), out)
	g.Expect(out).To(ContainSubstring("the record is deleted from the sink"))
	g.Expect(out).To(ContainSubstring("next:\n  nothing to do"))

	// Hard-deleted in the source while the sink keeps it.
	synctest.Exec(t, e.src, `DELETE FROM invoices WHERE id = 7`)
	out = e.explain("7")
	g.Expect(verdictOf(out)).To(Equal("NotInSource"), out)
	g.Expect(out).To(ContainSubstring("deleted there"))
	g.Expect(out).To(ContainSubstring("the sink holds key billing:7"))
}

// explain runs `runner explain` for id against the demo services; it must exit 0.
func (s *seed) explain(id string) string {
	s.t.Helper()
	r := s.run("explain", "-f", s.jobFile, id)
	NewWithT(s.t).Expect(r.code).To(Equal(0), r.stderr)
	return r.stdout
}

// TestExplainDemoAPIs: every verdict of `runner explain` between the demo billing API
// (fetched by id) and the demo CRM (read by key), through the runner binary; no bearer
// token appears in its output (seed.run checks).
func TestExplainDemoAPIs(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 20, extra: "  deletes: {mode: SoftDelete, sourceField: deleted_at}\n"})
	invs := s.billing.Invoices()
	a, b, c, d := invs[3].ID, invs[5].ID, invs[7].ID, invs[9].ID

	out := s.explain(a)
	g.Expect(verdictOf(out)).To(Equal("NotYetSynced"), out)
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)

	out = s.explain(a)
	g.Expect(verdictOf(out)).To(Equal("Synced"), out)
	g.Expect(out).To(ContainSubstring("sink:       has key " + a + " at source_updated_at "))
	g.Expect(out).To(ContainSubstring("every mapped field equal"))

	out = s.explain("inv_999999")
	g.Expect(verdictOf(out)).To(Equal("NotInSource"), out)
	g.Expect(out).To(ContainSubstring("sink:       no record with key inv_999999"))

	// Edited in the CRM by hand.
	objs := s.crm.Find(b)
	g.Expect(objs).To(HaveLen(1))
	req, err := http.NewRequest(http.MethodPatch, s.cURL+"/invoices/"+objs[0].ID, strings.NewReader(`{"status": "void"}`))
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+crmToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	out = s.explain(b)
	g.Expect(verdictOf(out)).To(Equal("Different"), out)
	g.Expect(out).To(ContainSubstring("edited in the destination"))
	g.Expect(out).To(ContainSubstring(`sink "void"`))

	// A late commit behind the cursor by more than the gap.
	cur := s.storedCursor()
	at, err := time.Parse(time.RFC3339Nano, strings.SplitN(cur, "/", 2)[0])
	g.Expect(err).NotTo(HaveOccurred())
	late, err := s.billing.Upsert(demoapi.Invoice{CustomerID: invs[0].CustomerID, Total: "10.00", UpdatedAt: at.Add(-10 * time.Minute)})
	g.Expect(err).NotTo(HaveOccurred())
	out = s.explain(late.ID)
	g.Expect(verdictOf(out)).To(Equal("MissedLateCommit"), out)
	from, to := late.UpdatedAt.Truncate(time.Second), late.UpdatedAt.Truncate(time.Second).Add(time.Second)
	g.Expect(out).To(ContainSubstring("sync.checkpointed.io/backfill-from=" + from.Format(time.RFC3339) +
		" sync.checkpointed.io/backfill-to=" + to.Format(time.RFC3339)))

	// An update after the cursor: not synced yet, the CRM holds the older version.
	_, err = s.billing.Pay(c, time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	out = s.explain(c)
	g.Expect(verdictOf(out)).To(Equal("NotYetSynced"), out)
	g.Expect(out).To(ContainSubstring("the sink holds an older version"))

	// The CRM refuses a record: failed, on the retry list, in the record log.
	s.crm.Reject(d, "invoice is locked for audit")
	_, err = s.billing.Update(d, time.Time{}, func(inv *demoapi.Invoice) { inv.Status = demoapi.StatusVoid })
	g.Expect(err).NotTo(HaveOccurred())
	r = s.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	out = s.explain(d)
	g.Expect(verdictOf(out)).To(Equal("Failed"), out)
	g.Expect(out).To(ContainSubstring("invoice is locked for audit"))
	g.Expect(out).To(ContainSubstring("on the failedKeys retry list"))
	g.Expect(out).To(ContainSubstring("record log: failed in run " + r.record(t).RunID))
	g.Expect(verdictOf(s.explain(c))).To(Equal("Synced"))

	// Soft-deleted in billing: SoftDelete keeps the CRM object with its marker.
	_, err = s.billing.SoftDelete(a, time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	out = s.explain(a)
	g.Expect(verdictOf(out)).To(Equal("DeletedInSource"), out)
	g.Expect(out).To(ContainSubstring("not synced yet"))
	g.Expect(s.sync().code).To(Equal(3))
	out = s.explain(a)
	g.Expect(verdictOf(out)).To(Equal("DeletedInSource"), out)
	g.Expect(out).To(ContainSubstring("the sink keeps the record with its delete marker set"))
	g.Expect(out).To(ContainSubstring("next:\n  nothing to do"))

	// The durable record log holds the failure and no credential.
	data, err := os.ReadFile(filepath.Join(s.state, "record-log.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(ContainSubstring("invoice is locked for audit"))
	g.Expect(string(data)).To(ContainSubstring(`"key": "`+d+`"`), "a sink's refusal names the key")
	g.Expect(string(data)).NotTo(Or(ContainSubstring(crmToken), ContainSubstring(billingToken)))
}

// TestInClusterRecordLogAndExplain: in a cluster the record log is the checkpoint
// ConfigMap's key record-log.json, written by the runner under its least-privilege Role; a
// second runner Pod keeps the first one's entries and adds its own run range; its size is
// in status.lastRun.recordLog; and the explain core reads it through the ConfigMap store,
// naming kubectl commands.
func TestInClusterRecordLogAndExplain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 20, "2026-06-30 12:00:00+00")
	synctest.Exec(t, e.src, `UPDATE invoices SET total = 'abc' WHERE id = 7`)
	c := setUpInCluster(t, e, 5)

	// A PartiallySucceeded run exits 0 in a Job (its Job completes; see inClusterExitCode).
	code, out, err := c.run(ctx, "invoices-to-crm-29100000-aaaaa")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK), out)
	g.Expect(c.get(g).Status.LastRun.Phase).To(Equal(syncv1.RunPhasePartiallySucceeded))
	code, out, err = c.run(ctx, "invoices-to-crm-29100060-bbbbb")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK), out)
	g.Expect(c.get(g).Status.LastRun.Phase).To(Equal(syncv1.RunPhasePartiallySucceeded))

	api := c.runnerAPI(g)
	log, err := checkpoint.NewConfigMapStore(api.ConfigMaps(c.sj.Namespace), c.sj.Namespace, c.sj.Name).LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(log.Runs).To(HaveLen(2), "the first Pod's run range survives the second")
	// The second run fails 7 twice: retried first, then read again within the safety gap.
	g.Expect(len(log.Entries)).To(BeNumerically(">=", 2))
	g.Expect(log.Entries[0]).To(And(HaveField("ID", "7"), HaveField("Field", "total"), HaveField("RunID", log.Runs[0].RunID)))
	g.Expect(log.Entries[len(log.Entries)-1]).To(And(HaveField("ID", "7"), HaveField("RunID", log.Runs[1].RunID)))
	sj := c.get(g)
	g.Expect(sj.Status.LastRun.RecordLog).NotTo(BeNil())
	g.Expect(sj.Status.LastRun.RecordLog.Entries).To(Equal(int32(len(log.Entries))))
	g.Expect(sj.Status.LastRun.RecordLog.Dropped).To(BeZero())
	g.Expect(sj.Status.LastRun.RecordLog.Bytes).To(BeNumerically(">", 0))

	var buf bytes.Buffer
	now := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	code, err = Explain(ctx, logr.Discard(), sj, checkpoint.NewConfigMapStore(api.ConfigMaps(c.sj.Namespace), c.sj.Namespace, c.sj.Name), nil, "7", now, &buf)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0))
	g.Expect(buf.String()).To(HavePrefix("Failed: 7 fails to map: field total: "), buf.String())
	g.Expect(buf.String()).To(ContainSubstring("next scheduled run at 2026-07-02T02:00:00Z"))
	g.Expect(buf.String()).To(ContainSubstring("record log: failed in run " + log.Runs[1].RunID))
	g.Expect(buf.String()).To(ContainSubstring("kubectl annotate syncjob invoices-to-crm -n " + c.sj.Namespace +
		" sync.checkpointed.io/run-requested-at=20260701T090000Z --overwrite"))
}

// TestExplainInCluster: `runner explain --in-cluster` reads the SyncJob, the checkpoint and
// the record log under the runner's least-privilege Role, prints the verdict with kubectl
// commands, and takes no lock and writes nothing: the checkpoint ConfigMap, the Lease and
// the SyncJob keep their resourceVersions, and no Event is recorded.
func TestExplainInCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 10, "2026-06-30 12:00:00+00")
	synctest.Exec(t, e.src, `UPDATE invoices SET total = 'abc' WHERE id = 4`)
	c := setUpInCluster(t, e, 5)
	code, out, err := c.run(ctx, "invoices-to-crm-29100000-aaaaa")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK), out) // a partially succeeded run completes its Job in a cluster

	admin := kubernetes.NewForConfigOrDie(kube.Config)
	versions := func() []string {
		cm, err := admin.CoreV1().ConfigMaps(c.sj.Namespace).Get(ctx, "invoices-to-crm-checkpoint", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		lease, err := admin.CoordinationV1().Leases(c.sj.Namespace).Get(ctx, "invoices-to-crm-run", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return []string{cm.ResourceVersion, lease.ResourceVersion, c.get(g).ResourceVersion}
	}
	eventCount := func() int {
		list, err := admin.CoreV1().Events(c.sj.Namespace).List(ctx, metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return len(list.Items)
	}
	// Let the run's Event land before counting.
	g.Eventually(eventCount, 10*time.Second, 100*time.Millisecond).Should(BeNumerically(">", 0))
	before, events := versions(), eventCount()

	now := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	code, err = ExplainInCluster(ctx, logr.Discard(), c.runner, InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: "invoices-to-crm-x-explain"}, "4", now, &buf)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0))
	g.Expect(buf.String()).To(HavePrefix("Failed: 4 fails to map: field total: "), buf.String())
	g.Expect(buf.String()).To(ContainSubstring("next scheduled run at 2026-07-02T02:00:00Z"))
	g.Expect(buf.String()).To(ContainSubstring("kubectl annotate syncjob invoices-to-crm -n " + c.sj.Namespace))
	g.Expect(buf.String()).NotTo(ContainSubstring("--state-dir"))

	buf.Reset()
	code, err = ExplainInCluster(ctx, logr.Discard(), c.runner, InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name}, "9", now, &buf)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0))
	g.Expect(verdictOf(buf.String())).To(Equal("Synced"), buf.String())

	g.Consistently(versions, time.Second, 200*time.Millisecond).Should(Equal(before), "explain writes nothing and takes no lock")
	g.Expect(eventCount()).To(Equal(events))

	// A SyncJob the runner cannot see is an error naming it.
	_, err = ExplainInCluster(ctx, logr.Discard(), c.runner, InCluster{Namespace: c.sj.Namespace, Name: "nope"}, "4", now, &buf)
	g.Expect(err).To(MatchError(ContainSubstring("get SyncJob " + c.sj.Namespace + "/nope")))
}

// TestExplainInClusterCommandLine: `runner explain --in-cluster` takes one id and the
// SyncJob from the environment, and refuses local-mode flags beside it.
func TestExplainInClusterCommandLine(t *testing.T) {
	g := NewWithT(t)
	var out, errb bytes.Buffer
	g.Expect(Main([]string{"explain", "--in-cluster"}, &out, &errb)).To(Equal(2))
	g.Expect(Main([]string{"explain", "--in-cluster", "--state-dir", "x", "7"}, &out, &errb)).To(Equal(2))
	g.Expect(errb.String()).To(ContainSubstring("explain --in-cluster needs one source id"))
	t.Setenv("CHECKPOINTED_SYNCJOB", "")
	errb.Reset()
	g.Expect(Main([]string{"explain", "--in-cluster", "7"}, &out, &errb)).To(Equal(1))
	g.Expect(errb.String()).To(ContainSubstring("--in-cluster needs CHECKPOINTED_SYNCJOB and CHECKPOINTED_NAMESPACE"))
}
