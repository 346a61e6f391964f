package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// staleClient reads like a cache that lags behind: it shows none of the SyncJob's Jobs
// and, when forgetStatus is set, a SyncJob status without the handled request tokens (as
// after a controller restart that lost nothing but whose cache is not there yet). Writes
// go to the apiserver.
type staleClient struct {
	client.Client
	forgetStatus bool
}

func (c staleClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*batchv1.Job); ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "jobs"}, key.Name)
	}
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if sj, ok := obj.(*syncv1.SyncJob); ok && c.forgetStatus {
		sj.Status.LastHandledRunRequest = ""
		sj.Status.LastHandledResetRequest = ""
		sj.Status.LastHandledBackfillRequest = ""
		sj.Status.LastHandledReconcileRequest = ""
	}
	return nil
}

func (c staleClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*batchv1.JobList); ok {
		return nil
	}
	return c.Client.List(ctx, list, opts...)
}

// deleteWhenDone deletes sj after the test, so that a request left waiting does not keep
// the controller busy (and writing) during later tests.
func deleteWhenDone(t *testing.T, sj *syncv1.SyncJob) {
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), sj) })
}

// requestEvents counts the SyncJob's Events with reason, series included.
func requestEvents(g Gomega, sj *syncv1.SyncJob, reason string) int {
	evs := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), evs, client.InNamespace(sj.Namespace))).To(Succeed())
	n := 0
	for _, e := range evs.Items {
		if e.Reason == reason && e.Regarding.Name == sj.Name {
			n++
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
	}
	return n
}

// oneJobOfKind waits until sj has exactly one requested Job of kind and returns it.
func oneJobOfKind(g Gomega, sj *syncv1.SyncJob, kind runcontract.RequestKind) batchv1.Job {
	var job batchv1.Job
	g.Eventually(func(g Gomega) {
		jobs := jobsOfKind(g, sj, kind)
		g.Expect(jobs).To(HaveLen(1))
		job = jobs[0]
	}, timeout, interval).Should(Succeed())
	return job
}

// jobsOfKind returns the SyncJob's Jobs of one request kind (by name).
func jobsOfKind(g Gomega, sj *syncv1.SyncJob, kind runcontract.RequestKind) []batchv1.Job {
	var out []batchv1.Job
	for _, j := range runJobs(g, sj) {
		if strings.HasPrefix(j.Name, sj.Name+"-"+string(kind)+"-") {
			out = append(out, j)
		}
	}
	return out
}

// TestResetAndRunInOneAnnotate: a reset and a run requested in one update start the reset
// Job first; while it is active the run waits and lastHandledResetRequest already shows
// the reset's token; when it ends the run starts; after the run nothing starts again: two
// Jobs, one ResetRequested Event, both tokens recorded.
func TestResetAndRunInOneAnnotate(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "reset-and-run")
	deleteWhenDone(t, sj)
	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "t1", syncv1.ResetToAnnotation: "beginning", syncv1.RunRequestedAnnotation: "t1"})

	reset := oneJobOfKind(g, sj, runcontract.KindReset)
	g.Consistently(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("t1"), "the reset's token is recorded while the run waits")
		g.Expect(jobsOfKind(g, sj, runcontract.KindRun)).To(BeEmpty(), "the run waits for the reset")
	}, 2*time.Second, interval).Should(Succeed())

	finishJob(g, &reset, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, corev1.PodSucceeded)
	run := oneJobOfKind(g, sj, runcontract.KindRun)
	finishJob(g, &run, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, corev1.PodSucceeded)

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledRunRequest).To(Equal("t1"))
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("t1"))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(runJobs(g, sj)).To(HaveLen(2))
		g.Expect(requestEvents(g, sj, "ResetRequested")).To(Equal(1))
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("t1"))
	}, 3*time.Second, interval).Should(Succeed())
}

// staleReconciler is a second reconciler over the same apiserver whose reads lag (see
// staleClient), as the manager's cache does right after the controller created a Job or
// wrote its status, or after a restart.
func staleReconciler(forgetStatus bool) (*SyncJobReconciler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(100)
	return &SyncJobReconciler{
		Client:    staleClient{Client: k8sClient, forgetStatus: forgetStatus},
		APIReader: k8sClient,
		Events:    rec,
		Clock:     fakeClock,
		Options:   desired.Options{RunnerImage: testRunner},
	}, rec
}

// reconcileTimes runs r's reconcile of sj n times.
func reconcileTimes(g Gomega, r *SyncJobReconciler, sj *syncv1.SyncJob, n int) {
	for range n {
		_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sj)})
		g.Expect(err).NotTo(HaveOccurred())
	}
}

// drain returns the events a FakeRecorder recorded so far.
func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestRequestsUnderAStaleCache: a reconcile whose cache does not show the reset Job just
// created (nor, in the second case, the handled tokens — a restarted controller) neither
// starts the waiting run next to the active reset nor announces the reset again: which
// Jobs exist and which is active is read from the apiserver before a Job is started.
func TestRequestsUnderAStaleCache(t *testing.T) {
	for _, tc := range []struct {
		name         string
		forgetStatus bool
	}{{"jobs not in the cache yet", false}, {"restarted controller without status", true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := readySyncJob(t, "stale-"+map[bool]string{false: "jobs", true: "status"}[tc.forgetStatus])
			deleteWhenDone(t, sj)
			annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "s1", syncv1.ResetToAnnotation: "beginning", syncv1.RunRequestedAnnotation: "s1"})
			g.Eventually(func(g Gomega) {
				g.Expect(jobsOfKind(g, sj, runcontract.KindReset)).To(HaveLen(1))
			}, timeout, interval).Should(Succeed())

			r, rec := staleReconciler(tc.forgetStatus)
			reconcileTimes(g, r, sj, 5)
			g.Expect(jobsOfKind(g, sj, runcontract.KindRun)).To(BeEmpty(), "the run does not start next to the active reset")
			g.Expect(jobsOfKind(g, sj, runcontract.KindReset)).To(HaveLen(1))
			for _, e := range drain(rec) {
				g.Expect(e).NotTo(ContainSubstring("ResetRequested"), "the reset is announced once")
				g.Expect(e).NotTo(ContainSubstring("RunRequested"))
			}
			g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), sj)).To(Succeed())
			g.Expect(sj.Status.LastHandledResetRequest).To(Equal("s1"))
			g.Expect(requestEvents(g, sj, "ResetRequested")).To(Equal(1))
		})
	}
}

// TestResetArrivesDuringARun: a reset requested while a run is active waits for it, shows
// that it waits, then starts once; its token is recorded once the Job exists.
func TestResetArrivesDuringARun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "reset-during-run")
	deleteWhenDone(t, sj)
	annotate(g, sj, map[string]string{syncv1.RunRequestedAnnotation: "run-1"})
	run := oneJobOfKind(g, sj, runcontract.KindRun)

	annotate(g, sj, map[string]string{syncv1.ResetRequestedAnnotation: "reset-1", syncv1.ResetToAnnotation: "beginning"})
	g.Consistently(func(g Gomega) {
		g.Expect(jobsOfKind(g, sj, runcontract.KindReset)).To(BeEmpty())
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(BeEmpty())
	}, 2*time.Second, interval).Should(Succeed())

	finishJob(g, &run, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, corev1.PodSucceeded)
	g.Eventually(func(g Gomega) {
		g.Expect(jobsOfKind(g, sj, runcontract.KindReset)).To(HaveLen(1))
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(sj.Status.LastHandledResetRequest).To(Equal("reset-1"))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(jobsOfKind(g, sj, runcontract.KindReset)).To(HaveLen(1))
		g.Expect(requestEvents(g, sj, "ResetRequested")).To(Equal(1))
	}, 2*time.Second, interval).Should(Succeed())
}

// TestReconcileRequestUnderAStaleCache: a reconcile request (reconcile-requested-at) alone
// is held back by an active run that the cache does not show yet, like the other requests:
// which Jobs are active is read from the apiserver before its Job is started.
func TestReconcileRequestUnderAStaleCache(t *testing.T) {
	g := NewWithT(t)
	sj := readySyncJob(t, "stale-reconcile")
	deleteWhenDone(t, sj)
	annotate(g, sj, map[string]string{syncv1.RunRequestedAnnotation: "r1"})
	g.Eventually(func(g Gomega) {
		g.Expect(jobsOfKind(g, sj, runcontract.KindRun)).To(HaveLen(1))
	}, timeout, interval).Should(Succeed())

	annotate(g, sj, map[string]string{syncv1.ReconcileRequestedAnnotation: "k1"})
	r, _ := staleReconciler(false)
	reconcileTimes(g, r, sj, 3)
	g.Expect(jobsOfKind(g, sj, runcontract.KindReconcile)).To(BeEmpty(), "the reconcile run does not start next to the active run")
}
