package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// readyAt is a SyncJob whose stored Ready condition is (status, reason, message), set at t.
func readyAt(status metav1.ConditionStatus, reason, message string, t time.Time) *syncv1.SyncJob {
	sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "invoices", UID: types.UID("uid-1")}}
	sj.Status.Conditions = []metav1.Condition{{
		Type: syncv1.ConditionReady, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(t),
	}}
	return sj
}

// statusWithReady is a controller status whose Ready condition is (status, reason, message).
func statusWithReady(status metav1.ConditionStatus, reason, message string, t time.Time) syncv1.SyncJobStatus {
	return syncv1.SyncJobStatus{Conditions: []metav1.Condition{{
		Type: syncv1.ConditionReady, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(t),
	}}}
}

// TestReadyEventOnceUnderAStaleCache: a reconcile that reads the SyncJob from a cache that
// does not show the status the previous reconcile wrote sees the same change of Ready
// again; the change is announced once (seen on the local cluster: PreflightFailed twice,
// three seconds apart, with the same message).
func TestReadyEventOnceUnderAStaleCache(t *testing.T) {
	g := NewWithT(t)
	rec := events.NewFakeRecorder(10)
	r := &SyncJobReconciler{Events: rec}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	stale := readyAt(metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet", t0)
	next := statusWithReady(metav1.ConditionFalse, syncv1.ReasonPreflightFailed, "preflight failed: secret \"crm-db\" not found", t0.Add(time.Second))

	r.emitEvents(stale, next)
	r.emitEvents(stale.DeepCopy(), next) // the next reconcile, on the same stale copy
	g.Expect(drain(rec)).To(HaveLen(1))

	// A real change after it is announced, and so is a change back.
	fixed := statusWithReady(metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet", t0.Add(time.Minute))
	r.emitEvents(readyAt(metav1.ConditionFalse, syncv1.ReasonPreflightFailed, "preflight failed: secret \"crm-db\" not found", t0.Add(time.Second)), fixed)
	r.emitEvents(readyAt(metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet", t0.Add(time.Minute)), next)
	g.Expect(drain(rec)).To(HaveLen(2))

	// Another SyncJob's identical change is its own.
	other := stale.DeepCopy()
	other.Name, other.UID = "orders", types.UID("uid-2")
	r.emitEvents(other, next)
	g.Expect(drain(rec)).To(HaveLen(1))
}

// TestRunOutcomeAfterAFailedPreflightIsToldByTheRun: when a run that finished after a
// failed preflight moves Ready from PreflightFailed to the run's outcome, the run's own
// Event tells it (seen on the local cluster: two RunFailed Events for one run of a
// SyncJob whose Secret is missing). A Ready that recovers for another reason, long after
// the run, is still announced.
func TestRunOutcomeAfterAFailedPreflightIsToldByTheRun(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	run := &syncv1.RunRecord{RunID: "invoices-m-1", Phase: syncv1.RunPhaseFailed, CompletionTime: &metav1.Time{Time: t0.Add(time.Minute)}}
	runMsg := "run invoices-m-1 Failed: CreateContainerConfigError: the runner could not start"

	rec := events.NewFakeRecorder(10)
	r := &SyncJobReconciler{Events: rec}
	sj := readyAt(metav1.ConditionFalse, syncv1.ReasonPreflightFailed, "preflight failed: the runner cannot start", t0)
	sj.Status.LastRun = run
	r.emitEvents(sj, statusWithReady(metav1.ConditionFalse, syncv1.ReasonRunFailed, runMsg, t0.Add(time.Minute)))
	g.Expect(drain(rec)).To(BeEmpty(), "the run's own RunFailed Event tells this change")

	// The spec was broken after that run and is fixed now: Ready returns to the run's
	// outcome, not because of the run.
	r = &SyncJobReconciler{Events: rec}
	sj = readyAt(metav1.ConditionFalse, syncv1.ReasonInvalidSpec, "spec.schedule: bad", t0.Add(time.Hour))
	sj.Status.LastRun = run
	r.emitEvents(sj, statusWithReady(metav1.ConditionFalse, syncv1.ReasonRunFailed, runMsg, t0.Add(2*time.Hour)))
	g.Expect(drain(rec)).To(HaveLen(1))
}
