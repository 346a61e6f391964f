package kubectlsyncjob

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// cluster is one namespace with one SyncJob on the envtest apiserver.
type cluster struct {
	t     *testing.T
	admin client.Client
	sj    *syncv1.SyncJob
}

func newCluster(t *testing.T) *cluster {
	g := NewWithT(t)
	admin, err := client.New(kube.Config, client.Options{Scheme: Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-"}}
	g.Expect(admin.Create(context.Background(), ns)).To(Succeed())
	sj := testSyncJob()
	sj.Namespace, sj.UID = ns.Name, ""
	g.Expect(admin.Create(context.Background(), sj)).To(Succeed())
	return &cluster{t: t, admin: admin, sj: sj}
}

// plugin runs the plugin's command line against the cluster; it returns the exit code,
// stdout and stderr.
func (c *cluster) plugin(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb, func(ns string) (*Plugin, error) {
		NewWithT(c.t).Expect(ns).To(Equal(c.sj.Namespace), "-n is passed on")
		p, err := NewPlugin(kube.Config, ns, &out, &errb)
		if p != nil {
			p.Poll = 50 * time.Millisecond
		}
		return p, err
	})
	return code, out.String(), errb.String()
}

func (c *cluster) get(g Gomega) *syncv1.SyncJob {
	sj := &syncv1.SyncJob{}
	g.Expect(c.admin.Get(context.Background(), client.ObjectKeyFromObject(c.sj), sj)).To(Succeed())
	return sj
}

// TestRequestTokens: run, reset and backfill set their annotations with a fresh token each
// time (a second request is never mistaken for the first), a reset always states its target
// and whether failed keys go, and a bad request changes nothing.
func TestRequestTokens(t *testing.T) {
	g := NewWithT(t)
	c := newCluster(t)
	ns := c.sj.Namespace

	code, _, errOut := c.plugin("run", c.sj.Name, "-n", ns)
	g.Expect(code).To(Equal(0), errOut)
	first := c.get(g).Annotations[syncv1.RunRequestedAnnotation]
	_, err := time.Parse(time.RFC3339Nano, first)
	g.Expect(err).NotTo(HaveOccurred(), "the token is a timestamp: %q", first)
	g.Expect(errOut).To(ContainSubstring(first))
	code, _, _ = c.plugin("-n", ns, "run", c.sj.Name)
	g.Expect(code).To(Equal(0))
	g.Expect(c.get(g).Annotations[syncv1.RunRequestedAnnotation]).NotTo(Equal(first), "every request gets a fresh token")

	code, _, errOut = c.plugin("reset", c.sj.Name, "-n", ns, "--to", "2026-06-30T00:00:00Z", "--clear-failed-keys")
	g.Expect(code).To(Equal(0), errOut)
	ann := c.get(g).Annotations
	g.Expect(ann).To(HaveKeyWithValue(syncv1.ResetToAnnotation, "2026-06-30T00:00:00Z"))
	g.Expect(ann).To(HaveKeyWithValue(syncv1.ResetFailedKeysAnnotation, "true"))
	g.Expect(ann).To(HaveKey(syncv1.ResetRequestedAnnotation))
	resetToken := ann[syncv1.ResetRequestedAnnotation]
	code, _, _ = c.plugin("reset", c.sj.Name, "-n", ns)
	g.Expect(code).To(Equal(0))
	ann = c.get(g).Annotations
	g.Expect(ann).To(HaveKeyWithValue(syncv1.ResetToAnnotation, "beginning"))
	g.Expect(ann).To(HaveKeyWithValue(syncv1.ResetFailedKeysAnnotation, "false"), "an earlier request's clear-failed-keys never carries over")
	g.Expect(ann[syncv1.ResetRequestedAnnotation]).NotTo(Equal(resetToken))

	code, _, _ = c.plugin("backfill", c.sj.Name, "-n", ns, "--from", "2026-06-01T00:00:00Z", "--to", "2026-06-02T00:00:00Z")
	g.Expect(code).To(Equal(0))
	ann = c.get(g).Annotations
	g.Expect(ann).To(HaveKeyWithValue(syncv1.BackfillFromAnnotation, "2026-06-01T00:00:00Z"))
	g.Expect(ann).To(HaveKeyWithValue(syncv1.BackfillToAnnotation, "2026-06-02T00:00:00Z"))
	g.Expect(ann).To(HaveKey(syncv1.BackfillRequestedAnnotation))

	// Bad requests: exit 2, nothing written.
	before := c.get(g).ResourceVersion
	for _, args := range [][]string{
		{"reset", c.sj.Name, "-n", ns, "--to", "yesterday"},
		{"backfill", c.sj.Name, "-n", ns, "--from", "2026-06-02T00:00:00Z", "--to", "2026-06-01T00:00:00Z"},
		{"backfill", c.sj.Name, "-n", ns, "--from", "2026-06-01"},
		{"run", "-n", ns},
		{"explain", c.sj.Name, "-n", ns},
		{"frobnicate", c.sj.Name},
	} {
		code, _, errOut := c.plugin(args...)
		g.Expect(code).To(Equal(2), "%v: %s", args, errOut)
	}
	g.Expect(c.get(g).ResourceVersion).To(Equal(before))

	code, _, errOut = c.plugin("run", "missing", "-n", ns)
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("missing"))
}

// answer plays the controller and the runner for a request: once the token is annotated,
// it records it as handled and writes the run record of the request's Job.
func (c *cluster) answer(g Gomega, kind Kind, phase syncv1.RunPhase) {
	ctx := context.Background()
	ann := map[Kind]string{KindRun: syncv1.RunRequestedAnnotation, KindBackfill: syncv1.BackfillRequestedAnnotation}[kind]
	var token string
	g.Eventually(func() string { token = c.get(g).Annotations[ann]; return token }, 10*time.Second, 20*time.Millisecond).ShouldNot(BeEmpty())
	sj := c.get(g)
	// First only handled, with the run still going: the wait must go on.
	jobName := runcontract.RequestedJobName(sj.Name, contractKind(kind), token)
	if kind == KindRun {
		sj.Status.LastHandledRunRequest = token
	} else {
		sj.Status.LastHandledBackfillRequest = token
	}
	sj.Status.LastRun = &syncv1.RunRecord{RunID: jobName + "-x7k2p", Trigger: "Manual", Phase: syncv1.RunPhaseRunning}
	g.Expect(c.admin.Status().Update(ctx, sj)).To(Succeed())
	time.Sleep(300 * time.Millisecond)
	sj = c.get(g)
	sj.Status.LastRun = &syncv1.RunRecord{RunID: jobName + "-x7k2p", Trigger: "Manual", Phase: phase, Read: 10, Upserted: 8, Failed: 2,
		StartTime: &metav1.Time{Time: time.Now().Add(-time.Minute)}, CompletionTime: &metav1.Time{Time: time.Now()}}
	g.Expect(c.admin.Status().Update(ctx, sj)).To(Succeed())
}

// TestWaitFollowsTheRun: --wait returns only when the request's token is handled and its
// run record is final, prints that record, and its exit code is the run's outcome.
func TestWaitFollowsTheRun(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		args  []string
		phase syncv1.RunPhase
		code  int
	}{
		{KindRun, nil, syncv1.RunPhaseSucceeded, 0},
		{KindRun, nil, syncv1.RunPhasePartiallySucceeded, 3},
		{KindRun, nil, syncv1.RunPhaseFailed, 1},
		{KindBackfill, []string{"--from", "2026-06-01T00:00:00Z", "--to", "2026-06-02T00:00:00Z"}, syncv1.RunPhasePartiallySucceeded, 3},
	} {
		t.Run(string(tc.kind)+"/"+string(tc.phase), func(t *testing.T) {
			g := NewWithT(t)
			c := newCluster(t)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.answer(g, tc.kind, tc.phase)
			}()
			start := time.Now()
			args := append([]string{string(tc.kind), c.sj.Name, "-n", c.sj.Namespace, "--wait", "--timeout", "30s"}, tc.args...)
			code, out, errOut := c.plugin(args...)
			wg.Wait()
			g.Expect(code).To(Equal(tc.code), errOut)
			g.Expect(time.Since(start)).To(BeNumerically(">", 300*time.Millisecond), "not done while the run was Running")
			g.Expect(out).To(ContainSubstring(`"phase": "` + string(tc.phase) + `"`))
			g.Expect(out).To(ContainSubstring(`"upserted": 8`))
		})
	}
}

// TestWaitTimesOut: a request nobody handles ends the wait at --timeout, exit 1, naming the
// token and the status command.
func TestWaitTimesOut(t *testing.T) {
	g := NewWithT(t)
	c := newCluster(t)
	code, _, errOut := c.plugin("run", c.sj.Name, "-n", c.sj.Namespace, "--wait", "--timeout", "1s")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring("gave up waiting (--timeout)"))
	g.Expect(errOut).To(ContainSubstring("kubectl syncjob status " + c.sj.Name))
}

// TestStatusAndHistoryCommands: status reads the SyncJob and its unfinished Job (the active
// run), history prints status.history as a table.
func TestStatusAndHistoryCommands(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newCluster(t)
	sj := c.get(g)
	sj.Status.History = []syncv1.RunSummary{
		{RunID: "invoices-29100060-bbbbb", Phase: syncv1.RunPhaseFailed, StartTime: &metav1.Time{Time: time.Now().Add(-time.Hour)}, Summary: "read 0, SinkError"},
		{RunID: "invoices-29100000-aaaaa", Phase: syncv1.RunPhaseSucceeded, Summary: "read 10, upserted 10"},
	}
	sj.Status.LastRun = &syncv1.RunRecord{RunID: "invoices-29100060-bbbbb", Trigger: "Scheduled", Phase: syncv1.RunPhaseFailed, Reason: "SinkError"}
	g.Expect(c.admin.Status().Update(ctx, sj)).To(Succeed())
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "invoices-m-00000001", Namespace: sj.Namespace, Labels: map[string]string{runcontract.LabelJob: sj.Name}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "runner", Image: "x", Env: []corev1.EnvVar{{Name: runcontract.EnvTrigger, Value: "Manual"}}}}}}},
	}
	g.Expect(c.admin.Create(ctx, job)).To(Succeed())

	code, out, errOut := c.plugin("status", sj.Name, "-n", sj.Namespace)
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("  last run invoices-29100060-bbbbb: Failed, trigger Scheduled"))
	g.Expect(out).To(ContainSubstring("  running now: invoices-m-00000001 (Manual)"))
	g.Expect(out).To(ContainSubstring("kubectl syncjob logs invoices -n " + sj.Namespace))

	code, out, errOut = c.plugin("history", sj.Name, "-n", sj.Namespace)
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(MatchRegexp(`RUN\s+PHASE\s+STARTED\s+SUMMARY`))
	g.Expect(out).To(MatchRegexp(`invoices-29100060-bbbbb\s+Failed\s+\S+ \(1h ago\)\s+read 0, SinkError`))
	g.Expect(out).To(MatchRegexp(`invoices-29100000-aaaaa\s+Succeeded\s+-\s+read 10, upserted 10`))
}
