package controllers

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestReadiness: the conditions decided from the last run, drift, staleness, an invalid
// spec, a failed reconcile and a waiting request. A pure table test: no API server.
func TestReadiness(t *testing.T) {
	staleAt := time.Date(2026, 7, 2, 2, 0, 0, 0, time.UTC)
	success := metav1.NewTime(time.Date(2026, 6, 30, 2, 0, 0, 0, time.UTC))
	fresh := freshness{tracked: true, staleAt: staleAt, remaining: 90 * time.Minute}
	stale := freshness{tracked: true, staleAt: staleAt, remaining: -time.Minute}
	for _, tc := range []struct {
		name         string
		in           readinessInput
		ready        condition
		reconciling  *condition
		stalled      *condition
		requeueAfter time.Duration
	}{
		{name: "no run yet",
			in:    readinessInput{},
			ready: condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet"}},
		{name: "succeeded, fresh: look again when it turns stale",
			in:           readinessInput{lastRun: &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded}, freshness: fresh},
			ready:        condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "run r1 succeeded"},
			requeueAfter: 90 * time.Minute},
		{name: "failed",
			in:    readinessInput{lastRun: &syncv1.RunRecord{RunID: "r2", Phase: syncv1.RunPhaseFailed, Reason: "SinkError", Message: "503 from sink"}, freshness: fresh},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonRunFailed, "run r2 Failed: SinkError: 503 from sink"}},
		{name: "interrupted without a message",
			in:    readinessInput{lastRun: &syncv1.RunRecord{RunID: "r3", Phase: syncv1.RunPhaseInterrupted, Reason: "Cancelled"}},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonRunFailed, "run r3 Interrupted: Cancelled"}},
		{name: "partially succeeded",
			in:           readinessInput{lastRun: &syncv1.RunRecord{RunID: "r4", Phase: syncv1.RunPhasePartiallySucceeded, Failed: 3}, freshness: fresh},
			ready:        condition{metav1.ConditionTrue, syncv1.ReasonPartiallyFailed, "run r4 finished with 3 failed records"},
			requeueAfter: 90 * time.Minute},
		{name: "drift",
			in: readinessInput{lastRun: &syncv1.RunRecord{RunID: "r5", Phase: syncv1.RunPhaseSucceeded,
				Reconciliation: &syncv1.Reconciliation{Drift: true, SourceCount: 10, SinkCount: 8, Mismatched: 2}}, freshness: fresh},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonDriftDetected, "run r5: drift check found source 10 vs sink 8 records in the window, 2 mismatched"}},
		{name: "stale since the last success",
			in: readinessInput{lastRun: &syncv1.RunRecord{RunID: "r6", Phase: syncv1.RunPhaseSucceeded}, lastSuccess: &success, freshness: stale},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonStale,
				"no successful run since 2026-06-30T02:00:00Z: two scheduled runs were missed (stale since 2026-07-02T02:00:00Z)"}},
		{name: "stale without a success",
			in: readinessInput{freshness: stale},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonStale,
				"no successful run since the SyncJob was created: two scheduled runs were missed (stale since 2026-07-02T02:00:00Z)"}},
		{name: "a failed run stays RunFailed when also stale",
			in:    readinessInput{lastRun: &syncv1.RunRecord{RunID: "r7", Phase: syncv1.RunPhaseFailed}, freshness: stale},
			ready: condition{metav1.ConditionFalse, syncv1.ReasonRunFailed, "run r7 Failed"}},
		{name: "untracked (suspended) is never stale",
			in:    readinessInput{lastRun: &syncv1.RunRecord{RunID: "r8", Phase: syncv1.RunPhaseSucceeded}},
			ready: condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "run r8 succeeded"}},
		{name: "invalid spec wins over everything",
			in: readinessInput{invalidSpec: errors.New(`spec.schedule "nope" is not a valid cron schedule`), err: errors.New("boom"),
				pending: "run request waits", lastRun: &syncv1.RunRecord{RunID: "r9", Phase: syncv1.RunPhaseSucceeded}},
			ready:   condition{metav1.ConditionFalse, syncv1.ReasonInvalidSpec, `spec.schedule "nope" is not a valid cron schedule`},
			stalled: &condition{metav1.ConditionTrue, syncv1.ReasonInvalidSpec, `spec.schedule "nope" is not a valid cron schedule`}},
		{name: "a failed reconcile is progressing",
			in:          readinessInput{err: errors.New("apply CronJob x: conflict"), lastRun: &syncv1.RunRecord{RunID: "r10", Phase: syncv1.RunPhaseSucceeded}, freshness: fresh},
			ready:       condition{metav1.ConditionFalse, syncv1.ReasonProgressing, "apply CronJob x: conflict"},
			reconciling: &condition{metav1.ConditionTrue, syncv1.ReasonProgressing, "apply CronJob x: conflict"}},
		{name: "a waiting request: Reconciling, Ready from the run",
			in:           readinessInput{pending: `run request "2" waits for the active run (Job x)`, lastRun: &syncv1.RunRecord{RunID: "r11", Phase: syncv1.RunPhaseSucceeded}, freshness: fresh},
			ready:        condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "run r11 succeeded"},
			reconciling:  &condition{metav1.ConditionTrue, ReasonRequestPending, `run request "2" waits for the active run (Job x)`},
			requeueAfter: 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := readiness(tc.in)
			g.Expect(v.ready).To(Equal(tc.ready))
			g.Expect(v.reconciling).To(Equal(tc.reconciling))
			g.Expect(v.stalled).To(Equal(tc.stalled))
			g.Expect(v.requeueAfter).To(Equal(tc.requeueAfter))
		})
	}
}
