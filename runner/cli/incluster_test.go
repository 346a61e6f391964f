package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/test/kubetest"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// inCluster is one SyncJob set up on the envtest apiserver the way the controller sets it
// up (its runner identity, checkpoint ConfigMap and Lease), plus the runner's view: a
// rest.Config that impersonates the runner's ServiceAccount.
type inCluster struct {
	admin  client.Client
	runner *rest.Config
	sj     *syncv1.SyncJob
}

func setUpInCluster(t *testing.T, e *env, pageSize int) *inCluster {
	g := NewWithT(t)
	ctx := context.Background()
	admin, err := client.New(kube.Config, client.Options{Scheme: kubetest.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "runner-"}}
	g.Expect(admin.Create(ctx, ns)).To(Succeed())

	sj, err := LoadJob(e.jobFile)
	g.Expect(err).NotTo(HaveOccurred())
	sj.Namespace = ns.Name
	sj.Spec.PageSize = int32(pageSize)
	g.Expect(admin.Create(ctx, sj)).To(Succeed())
	for _, ac := range []runtime.ApplyConfiguration{desired.ServiceAccount(sj), desired.Role(sj), desired.RoleBinding(sj), desired.Lease(sj)} {
		g.Expect(admin.Apply(ctx, ac, client.FieldOwner("test"))).To(Succeed())
	}
	g.Expect(admin.Create(ctx, desired.CheckpointConfigMap(sj))).To(Succeed())

	runner := rest.CopyConfig(kube.Config)
	runner.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns.Name, desired.ServiceAccountName(sj))}
	// The Pod's environment carries the credentials.
	t.Setenv("BILLING_DB_DSN", e.src)
	t.Setenv("CRM_DB_DSN", e.sink)
	return &inCluster{admin: admin, runner: runner, sj: sj}
}

// runnerAPI is the runner's API client (internal/kubeapi) with the runner's identity.
func (c *inCluster) runnerAPI(g Gomega) *kubeapi.Client {
	api, err := kubeapi.New(c.runner)
	g.Expect(err).NotTo(HaveOccurred())
	return api
}

func (c *inCluster) run(ctx context.Context, pod string) (int, string, error) {
	return c.runWaiting(ctx, pod, 0)
}

func (c *inCluster) runWaiting(ctx context.Context, pod string, lockWait time.Duration) (int, string, error) {
	var out bytes.Buffer
	code, err := RunInCluster(ctx, logr.Discard(), c.runner,
		InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: pod, Trigger: "Manual", LockWait: lockWait}, &out)
	return code, out.String(), err
}

func (c *inCluster) get(g Gomega) *syncv1.SyncJob {
	sj := &syncv1.SyncJob{}
	g.Expect(c.admin.Get(context.Background(), client.ObjectKeyFromObject(c.sj), sj)).To(Succeed())
	return sj
}

// TestInClusterRun: with only its least-privilege Role, the runner reads its SyncJob,
// syncs, stores the checkpoint in the ConfigMap, writes its status fields and an Event.
func TestInClusterRun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 500, "2026-06-30 12:00:00+00")
	c := setUpInCluster(t, e, 100)

	code, out, err := c.run(context.Background(), "invoices-to-crm-29100000-abcde")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0), out)
	g.Expect(out).To(ContainSubstring(`"msg":"run finished"`), "audit lines go to the container log")
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(500)))

	sj := c.get(g)
	g.Expect(sj.Status.LastRun).NotTo(BeNil())
	g.Expect(sj.Status.LastRun.Phase).To(Equal(syncv1.RunPhaseSucceeded))
	g.Expect(sj.Status.LastRun.Trigger).To(Equal("Manual"))
	g.Expect(sj.Status.LastRun.Upserted).To(Equal(int64(500)))
	g.Expect(sj.Status.Cursor).To(Equal(&syncv1.Cursor{UpdatedAt: "2026-06-30T12:00:00.499Z", ID: "500"}))
	g.Expect(sj.Status.LastSuccessfulRunTime).NotTo(BeNil())
	g.Expect(sj.Status.History).To(HaveLen(1))

	cm := &corev1.ConfigMap{}
	g.Expect(c.admin.Get(context.Background(), client.ObjectKey{Namespace: sj.Namespace, Name: "invoices-to-crm-checkpoint"}, cm)).To(Succeed())
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring(`"updatedAt": "2026-06-30T12:00:00.499Z"`))

	cs := kubernetes.NewForConfigOrDie(kube.Config)
	g.Eventually(func(g Gomega) {
		list, err := cs.CoreV1().Events(sj.Namespace).List(context.Background(), metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		reasons := []string{}
		for _, ev := range list.Items {
			reasons = append(reasons, ev.Reason)
		}
		g.Expect(reasons).To(ContainElement("RunSucceeded"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// TestInClusterSecondRunnerIsRefused: while another runner holds the Lease, a run exits 0
// and records nothing.
func TestInClusterSecondRunnerIsRefused(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
	c := setUpInCluster(t, e, 100)

	other := checkpoint.NewLeaseLock(c.runnerAPI(g).Leases(c.sj.Namespace), c.sj.Namespace, c.sj.Name, "other-runner", checkpoint.LeaseOptions{})
	_, release, err := other.Acquire(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	defer release()

	code, out, err := c.run(context.Background(), "second")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("another run holds the lock"))
	g.Expect(c.get(g).Status.LastRun).To(BeNil(), "a refused runner recorded a run")
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(BeZero())
}

// TestInClusterRunWaitsOutADeadRunnersLease: a runner that died holding the Lease (it is
// no longer renewed) delays the next run until the Lease runs out; the next run then
// proceeds instead of doing nothing.
func TestInClusterRunWaitsOutADeadRunnersLease(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 50, "2026-06-30 12:00:00+00")
	c := setUpInCluster(t, e, 100)

	c.leaveDeadLease(g) // a runner took the Lease for 3 s and died: nothing renews it

	code, out, err := c.runWaiting(context.Background(), "after-the-crash", 10*time.Second)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0), out)
	g.Expect(c.get(g).Status.LastRun.RunID).To(Equal("after-the-crash"))
	g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(50)))
}

func ptrTo[T any](v T) *T { return &v }

// TestInClusterCheckpointConflictEndsTheRun: when someone else moves the checkpoint
// ConfigMap during a run, the runner's next compare-and-swap fails and the run ends
// Failed with reason CheckpointConflict, without overwriting the other writer.
func TestInClusterCheckpointConflictEndsTheRun(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, job{})
	insertInvoices(t, e.src, 1, 20000, "2026-06-30 12:00:00+00")
	c := setUpInCluster(t, e, 50) // 400 pages, the checkpoint stored after each
	key := client.ObjectKey{Namespace: c.sj.Namespace, Name: "invoices-to-crm-checkpoint"}

	moved := make(chan struct{})
	go func() {
		defer close(moved)
		// As soon as the runner stored a first cursor, another writer moves the checkpoint.
		for range 2000 {
			cm := &corev1.ConfigMap{}
			if err := c.admin.Get(context.Background(), key, cm); err == nil && cm.Data["checkpoint.json"] != "" {
				cm.Data["checkpoint.json"] = `{"job":"invoices-to-crm","cursor":{"updatedAt":"2026-01-01T00:00:00Z","id":"1"}}`
				if c.admin.Update(context.Background(), cm) == nil {
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	code, out, err := c.run(context.Background(), "racer")
	<-moved
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(1), out)
	sj := c.get(g)
	g.Expect(sj.Status.LastRun.Phase).To(Equal(syncv1.RunPhaseFailed))
	g.Expect(sj.Status.LastRun.Reason).To(Equal("CheckpointConflict"))
	cm := &corev1.ConfigMap{}
	g.Expect(c.admin.Get(context.Background(), key, cm)).To(Succeed())
	g.Expect(cm.Data["checkpoint.json"]).To(ContainSubstring(`"2026-01-01T00:00:00Z"`), "the runner overwrote the other writer's checkpoint")
}

// stored is the checkpoint the reset tests start from: a cursor, failed keys, a backfill
// and a last run, all of which but the cursor a reset keeps.
const stored = `{"job": "invoices-to-crm",
 "cursor": {"updatedAt": "2026-06-30T23:55:00.123456Z", "id": "inv_10492"},
 "safetyGap": "5m",
 "lastRun": {"runId": "r1", "processed": 842, "upserts": 840, "errors": 2},
 "failedKeys": ["42", "77"],
 "backfills": {"bf1": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "done": true}}}`

// seedCheckpoint stores data as the SyncJob's checkpoint.
func (c *inCluster) seedCheckpoint(g Gomega, data string) {
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: c.sj.Namespace, Name: "invoices-to-crm-checkpoint"}
	g.Expect(c.admin.Get(context.Background(), key, cm)).To(Succeed())
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["checkpoint.json"] = data
	g.Expect(c.admin.Update(context.Background(), cm)).To(Succeed())
}

// checkpointJSON returns the stored checkpoint, decoded.
func (c *inCluster) checkpointJSON(g Gomega) map[string]any {
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: c.sj.Namespace, Name: "invoices-to-crm-checkpoint"}
	g.Expect(c.admin.Get(context.Background(), key, cm)).To(Succeed())
	var st map[string]any
	g.Expect(json.Unmarshal([]byte(cm.Data["checkpoint.json"]), &st)).To(Succeed())
	return st
}

// events returns the SyncJob's Events with reason.
func (c *inCluster) events(g Gomega, reason string) []corev1.Event {
	var list corev1.EventList
	g.Expect(c.admin.List(context.Background(), &list, client.InNamespace(c.sj.Namespace))).To(Succeed())
	var out []corev1.Event
	for _, ev := range list.Items {
		if ev.Reason == reason && ev.InvolvedObject.Name == c.sj.Name && ev.InvolvedObject.Kind == "SyncJob" {
			out = append(out, ev)
		}
	}
	return out
}

func (c *inCluster) reset(ctx context.Context, to string, lockWait time.Duration) (int, string, error) {
	var out bytes.Buffer
	code, err := ResetInCluster(ctx, logr.Discard(), c.runner,
		InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: "invoices-to-crm-r-0a1b2c3d-xyz", Trigger: "Reset", LockWait: lockWait},
		ResetRequest{To: to, Token: "2026-11-30T10:00:00Z"}, &out)
	return code, out.String(), err
}

// TestInClusterReset: with only the runner's Role, a reset Job moves the cursor of the
// ConfigMap checkpoint to a time or to the beginning, keeps the failed keys, the backfills
// and the last run, emits one CheckpointReset Event, releases the Lease and writes no
// status.
func TestInClusterReset(t *testing.T) {
	tests := []struct {
		to         string
		wantCursor any
		wantWhere  string
	}{
		{"2026-06-01T00:00:00Z", map[string]any{"updatedAt": "2026-06-01T00:00:00Z"}, "2026-06-01T00:00:00Z"},
		{"2026-06-01T02:00:00.5+02:00", map[string]any{"updatedAt": "2026-06-01T00:00:00.5Z"}, "2026-06-01T00:00:00.5Z"},
		{"beginning", nil, "the beginning"},
	}
	e := newEnv(t, job{})
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			g := NewWithT(t)
			c := setUpInCluster(t, e, 100)
			c.seedCheckpoint(g, stored)

			code, out, err := c.reset(context.Background(), tt.to, 0)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(runcontract.ExitOK), out)

			st := c.checkpointJSON(g)
			if tt.wantCursor == nil {
				g.Expect(st).NotTo(HaveKey("cursor"))
			} else {
				g.Expect(st).To(HaveKeyWithValue("cursor", tt.wantCursor))
			}
			g.Expect(st).To(HaveKeyWithValue("failedKeys", []any{"42", "77"}))
			g.Expect(st).To(HaveKeyWithValue("backfills", HaveKey("bf1")))
			g.Expect(st).To(HaveKeyWithValue("lastRun", HaveKeyWithValue("runId", "r1")))
			g.Expect(st).To(HaveKeyWithValue("job", "invoices-to-crm"))
			g.Expect(out).To(ContainSubstring(`"failedKeys"`), "the new checkpoint is printed")

			evs := c.events(g, ReasonCheckpointReset)
			g.Expect(evs).To(HaveLen(1))
			g.Expect(evs[0].Type).To(Equal(corev1.EventTypeNormal))
			g.Expect(evs[0].Message).To(Equal(`reset request "2026-11-30T10:00:00Z": the checkpoint now starts at ` + tt.wantWhere))

			sj := c.get(g)
			g.Expect(sj.Status.LastRun).To(BeNil(), "a reset is not a run")
			g.Expect(sj.Status.History).To(BeEmpty())
			lease, err := kubernetes.NewForConfigOrDie(kube.Config).CoordinationV1().Leases(sj.Namespace).
				Get(context.Background(), "invoices-to-crm-run", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(lease.Spec.HolderIdentity).To(BeNil(), "the Lease is released")
		})
	}
}

// TestInClusterResetClearsFailedKeys: with runcontract.EnvResetClearFailedKeys "true" the
// reset also clears the failed keys and says so in its Event; another value is an invalid
// request, refused before anything is written.
func TestInClusterResetClearsFailedKeys(t *testing.T) {
	g := NewWithT(t)
	c := setUpInCluster(t, newEnv(t, job{}), 100)
	c.seedCheckpoint(g, stored)
	in := InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: "invoices-to-crm-r-0a1b2c3d-xyz", Trigger: "Reset"}

	var out bytes.Buffer
	code, err := ResetInCluster(context.Background(), logr.Discard(), c.runner, in,
		ResetRequest{To: "beginning", Token: "t1", ClearFailedKeys: "yes"}, &out)
	g.Expect(code).To(Equal(runcontract.ExitUsage))
	g.Expect(err).To(MatchError(ContainSubstring(`CHECKPOINTED_RESET_CLEAR_FAILED_KEYS "yes" is neither 'true' nor 'false'`)))
	g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("failedKeys", []any{"42", "77"}), "nothing written")

	code, err = ResetInCluster(context.Background(), logr.Discard(), c.runner, in,
		ResetRequest{To: "beginning", Token: "t2", ClearFailedKeys: "true"}, &out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK))
	st := c.checkpointJSON(g)
	g.Expect(st).NotTo(HaveKey("failedKeys"))
	g.Expect(st).NotTo(HaveKey("cursor"))
	g.Expect(st).To(HaveKeyWithValue("backfills", HaveKey("bf1")))
	evs := c.events(g, ReasonCheckpointReset)
	g.Expect(evs).To(HaveLen(1))
	g.Expect(evs[0].Message).To(Equal(`reset request "t2": the checkpoint now starts at the beginning, its failed keys cleared`))
}

// TestInClusterResetOfAnEmptyCheckpoint: the ConfigMap as the controller creates it.
func TestInClusterResetOfAnEmptyCheckpoint(t *testing.T) {
	g := NewWithT(t)
	c := setUpInCluster(t, newEnv(t, job{}), 100)
	code, out, err := c.reset(context.Background(), "2026-06-01T00:00:00Z", 0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(runcontract.ExitOK), out)
	g.Expect(c.checkpointJSON(g)).To(Equal(map[string]any{
		"job": "invoices-to-crm", "cursor": map[string]any{"updatedAt": "2026-06-01T00:00:00Z"},
		"lastResetRequest": "2026-11-30T10:00:00Z"}))
}

// TestInClusterResetWaitsForTheRunLock: while a live run holds the Lease the reset waits
// its bounded time, then fails (the Job retries) without writing; a dead runner's Lease is
// waited out and the reset proceeds.
func TestInClusterResetWaitsForTheRunLock(t *testing.T) {
	e := newEnv(t, job{})
	t.Run("held", func(t *testing.T) {
		g := NewWithT(t)
		c := setUpInCluster(t, e, 100)
		c.seedCheckpoint(g, stored)
		other := checkpoint.NewLeaseLock(c.runnerAPI(g).Leases(c.sj.Namespace), c.sj.Namespace, c.sj.Name, "live-runner",
			checkpoint.LeaseOptions{Duration: 3 * time.Second})
		_, release, err := other.Acquire(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		defer release()

		start := time.Now()
		code, _, err := c.reset(context.Background(), "beginning", 5*time.Second)
		g.Expect(code).To(Equal(runcontract.ExitFailed))
		g.Expect(err).To(MatchError(checkpoint.ErrLocked))
		g.Expect(err.Error()).To(ContainSubstring(`reset request "2026-11-30T10:00:00Z"`))
		g.Expect(time.Since(start)).To(BeNumerically(">=", 3*time.Second), "it waited its bounded time")
		g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("cursor", HaveKeyWithValue("id", "inv_10492")), "it wrote while locked")
		g.Expect(c.events(g, ReasonCheckpointReset)).To(BeEmpty())
	})
	t.Run("dead runner", func(t *testing.T) {
		g := NewWithT(t)
		c := setUpInCluster(t, e, 100)
		c.seedCheckpoint(g, stored)
		c.leaveDeadLease(g)

		code, out, err := c.reset(context.Background(), "beginning", 10*time.Second)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(code).To(Equal(runcontract.ExitOK), out)
		g.Expect(c.checkpointJSON(g)).NotTo(HaveKey("cursor"))
		g.Expect(c.events(g, ReasonCheckpointReset)).To(HaveLen(1))
	})
}

// TestInClusterResetRefusesAnInvalidTarget: a Warning Event names the request and the
// problem, nothing is written, and the exit code says a retry cannot help.
func TestInClusterResetRefusesAnInvalidTarget(t *testing.T) {
	g := NewWithT(t)
	c := setUpInCluster(t, newEnv(t, job{}), 100)
	c.seedCheckpoint(g, stored)

	for _, to := range []string{"last tuesday", ""} {
		code, _, err := c.reset(context.Background(), to, 0)
		g.Expect(code).To(Equal(runcontract.ExitUsage), to)
		g.Expect(err).To(HaveOccurred())
	}
	evs := c.events(g, ReasonInvalidResetRequest)
	g.Expect(evs).To(HaveLen(2))
	messages := []string{evs[0].Message, evs[1].Message}
	g.Expect(messages).To(ContainElement(And(
		HavePrefix(`reset request "2026-11-30T10:00:00Z": annotation sync.checkpointed.io/reset-to: `),
		ContainSubstring(`"last tuesday" is neither 'beginning' nor an RFC3339 time`))))
	g.Expect(evs[0].Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(c.checkpointJSON(g)).To(HaveKeyWithValue("cursor", HaveKeyWithValue("id", "inv_10492")))
	g.Expect(c.events(g, ReasonCheckpointReset)).To(BeEmpty())
	g.Expect(c.get(g).Status.LastRun).To(BeNil())
}

// TestResetInClusterCommandLine: the in-cluster reset takes its target from the
// environment only, and needs the SyncJob's name and namespace there.
func TestResetInClusterCommandLine(t *testing.T) {
	g := NewWithT(t)
	var out, errb bytes.Buffer
	g.Expect(Main([]string{"checkpoint", "reset", "--in-cluster", "--to", "beginning"}, &out, &errb)).To(Equal(runcontract.ExitUsage))
	g.Expect(errb.String()).To(ContainSubstring("CHECKPOINTED_RESET_TO"))
	g.Expect(Main([]string{"checkpoint", "show", "--in-cluster"}, &out, &errb)).To(Equal(runcontract.ExitUsage))

	t.Setenv("CHECKPOINTED_SYNCJOB", "")
	errb.Reset()
	g.Expect(Main([]string{"checkpoint", "reset", "--in-cluster"}, &out, &errb)).To(Equal(runcontract.ExitFailed))
	g.Expect(errb.String()).To(ContainSubstring("--in-cluster needs CHECKPOINTED_SYNCJOB and CHECKPOINTED_NAMESPACE"))
}

// leaveDeadLease makes the run Lease look held by a runner that died: taken for 3 s just
// now and never renewed.
func (c *inCluster) leaveDeadLease(g Gomega) {
	cs := kubernetes.NewForConfigOrDie(c.runner)
	lease, err := cs.CoordinationV1().Leases(c.sj.Namespace).Get(context.Background(), "invoices-to-crm-run", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	now := metav1.NewMicroTime(time.Now())
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = ptrTo("dead-runner"), ptrTo[int32](3)
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	_, err = cs.CoordinationV1().Leases(c.sj.Namespace).Update(context.Background(), lease, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
}
