package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// oomLimit is a memory limit the runner starts under (it takes its run lock from about
// 10Mi) but cannot sync 200,000 wide invoices in pages of 5,000 under: it is killed within
// the first pages (on 2026-12-01, once its COPY no longer held a second copy of a page,
// after committing the first; before, while reading it), so the stored checkpoint may
// hold a cursor or none, and the status must show the same (measured on the local
// cluster, cgroup v1).
const oomLimit = "16Mi"

// TestRunsThatDieWithoutReporting: runs that die or cannot start never get to write their
// own status; the controller records them as failed runs with the reason a person needs,
// and Ready turns False with reason RunFailed.
func TestRunsThatDieWithoutReporting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Wide invoices: every page of 5,000 weighs megabytes in the runner.
	synctest.Exec(t, e.src, `INSERT INTO invoices
		SELECT i, 'cus_' || i || repeat('x', 200), 'open', (i % 1000)::text || '.00',
		       timestamptz '2026-03-01 00:00:00+00' + i * interval '1 millisecond'
		FROM generate_series(1, 200000) AS i`)

	cases := []struct {
		name   string
		change func(*syncv1.SyncJobSpec)
		// reason and message the failed run must have
		reason  string
		message []string
	}{{
		name: "oom",
		change: func(s *syncv1.SyncJobSpec) {
			s.PageSize = 5000
			s.Runner.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(oomLimit)}
		},
		reason:  "OOMKilled",
		message: []string{"memory limit", oomLimit},
	}, {
		name: "no-image",
		change: func(s *syncv1.SyncJobSpec) {
			s.Runner.Image = "checkpointed/runner:does-not-exist"
			s.Runner.ImagePullPolicy = corev1.PullNever
		},
		reason:  "ErrImageNeverPull",
		message: []string{"checkpointed/runner:does-not-exist"},
	}, {
		name: "no-secret",
		change: func(s *syncv1.SyncJobSpec) {
			s.Sink.Postgres.DSN = syncv1.SecretKeyRef{Name: "crm-db-missing", Key: "dsn"}
		},
		reason:  "CreateContainerConfigError",
		message: []string{`secret "crm-db-missing" not found`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			e := &env{t: t, ns: e.ns, src: e.src, sink: e.sink}
			e.syncJob(tc.name, tc.change)
			job := e.requestRun(tc.name, "run-1")
			sj := e.waitRunOf(tc.name, job, 3*time.Minute)
			run := sj.Status.LastRun
			g.Expect(run.RunID).To(Equal(job), "recorded by the controller, under the Job's name")
			g.Expect(run.Phase).To(Equal(syncv1.RunPhaseFailed))
			g.Expect(run.Reason).To(Equal(tc.reason), run.Message)
			for _, m := range tc.message {
				g.Expect(run.Message).To(ContainSubstring(m))
			}
			g.Expect(run.Trigger).To(Equal("Manual"))
			// The answers: it ran and failed (one Warning Event); how far is unknown, not
			// zero; the status cursor is the stored checkpoint's.
			g.Expect(run.CountsUnknown).To(BeTrue(), "the controller cannot know the counts of a run that died")
			g.Expect(sj.Status.Cursor).To(Equal(e.storedCursor(g, tc.name)), "status cursor differs from the checkpoint")
			e.expectOutcomeEvents(tc.name, "RunFailed")
			g.Eventually(func(g Gomega) {
				now := e.get(g, tc.name)
				c := ready(now)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				if tc.name == "no-secret" {
					// The preflight of the SyncJob's generation found the missing Secret
					// too. Ready names it through the preflight until a run finishes after
					// it (README, "Preflight"): which of the two Pods the kubelet reports
					// first decides it, so the status's own times say which is expected.
					pf := now.Status.Preflight
					g.Expect(pf).NotTo(BeNil())
					g.Expect(pf.Result).To(Equal(syncv1.PreflightFailed))
					g.Expect(pf.Message).To(ContainSubstring(tc.message[0]))
					g.Expect(pf.Time).NotTo(BeNil())
					if !now.Status.LastRun.CompletionTime.After(pf.Time.Time) {
						g.Expect(c.Reason).To(Equal(syncv1.ReasonPreflightFailed))
						g.Expect(c.Message).To(ContainSubstring(tc.message[0]))
						return
					}
				}
				g.Expect(c.Reason).To(Equal(syncv1.ReasonRunFailed))
				g.Expect(c.Message).To(ContainSubstring(tc.reason))
			}).WithTimeout(30 * time.Second).Should(Succeed())
			if tc.reason == "OOMKilled" {
				// The runner got going before the kernel killed it: it took its run lock,
				// which it never got to give back.
				pods := e.pods(g, job)
				g.Expect(pods).To(HaveLen(1))
				lease := &coordinationv1.Lease{}
				g.Expect(kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: tc.name + "-run"}, lease)).To(Succeed())
				g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil(), "the runner was killed before it took its lock")
				g.Expect(*lease.Spec.HolderIdentity).To(HavePrefix(pods[0].Name + "-"))
			} else {
				// A run that cannot start is deleted, so that it does not block the schedule.
				g.Eventually(func(g Gomega) {
					err := kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: job}, &batchv1.Job{})
					g.Expect(client.IgnoreNotFound(err)).To(Succeed())
					g.Expect(err).To(HaveOccurred(), "Job %s still exists", job)
				}).WithTimeout(time.Minute).Should(Succeed())
			}
		})
	}
}
