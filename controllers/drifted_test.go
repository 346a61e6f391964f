package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestDriftCondition: the Drifted condition decided from the last run's drift check. A
// pure table test.
func TestDriftCondition(t *testing.T) {
	window := func(rc syncv1.Reconciliation) *syncv1.Reconciliation {
		rc.WindowStart, rc.WindowEnd = "2026-06-29T12:00:00Z", "2026-06-30T12:00:00Z"
		return &rc
	}
	for _, tc := range []struct {
		name string
		last *syncv1.RunRecord
		want condition
	}{
		{"no run yet", nil,
			condition{metav1.ConditionFalse, syncv1.ReasonDriftNotChecked, "no run yet"}},
		{"a run without a check", &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseFailed},
			condition{metav1.ConditionFalse, syncv1.ReasonDriftNotChecked, "run r1 did not check for drift"}},
		{"in step", &syncv1.RunRecord{RunID: "r2", Reconciliation: window(syncv1.Reconciliation{SourceCount: 9, SinkCount: 9, Sampled: 5})},
			condition{metav1.ConditionFalse, syncv1.ReasonNoDrift,
				"run r2: source 9 vs sink 9 records in the window [2026-06-29T12:00:00Z, 2026-06-30T12:00:00Z], 5 sampled records match"}},
		{"counts differ", &syncv1.RunRecord{RunID: "r3", Reconciliation: window(syncv1.Reconciliation{SourceCount: 10, SinkCount: 8, Sampled: 5, Drift: true})},
			condition{metav1.ConditionTrue, syncv1.ReasonDriftDetected,
				"run r3: source 10 vs sink 8 records in the window [2026-06-29T12:00:00Z, 2026-06-30T12:00:00Z], 0 of 5 sampled records mismatched"}},
		{"fields differ, first keys named", &syncv1.RunRecord{RunID: "r4", Reconciliation: window(syncv1.Reconciliation{
			Uncounted: true, Sampled: 20, Mismatched: 4, Drift: true, Mismatches: []syncv1.Mismatch{
				{Key: "billing:7", Fields: []string{"status"}}, {Key: "billing:9", Missing: true},
				{Key: "billing:20", Fields: []string{"status", "total"}}, {Key: "billing:21", Fields: []string{"total"}}}})},
			condition{metav1.ConditionTrue, syncv1.ReasonDriftDetected,
				"run r4: no counts in the window [2026-06-29T12:00:00Z, 2026-06-30T12:00:00Z], 4 of 20 sampled records mismatched: " +
					"billing:7 (status); billing:9 (missing); billing:20 (status, total); ..."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(drift(tc.last)).To(Equal(tc.want))
		})
	}
	t.Run("an invalid spec leaves Drifted alone", func(t *testing.T) {
		g := NewWithT(t)
		v := readiness(readinessInput{invalidSpec: context.Canceled, lastRun: &syncv1.RunRecord{RunID: "r"}})
		g.Expect(v.drifted).To(BeNil())
	})
}

// TestDriftedConditionAndEvent: the Drifted condition follows the runner's record, and a
// Warning DriftDetected Event is recorded when drift starts, not again while it lasts.
func TestDriftedConditionAndEvent(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := readySyncJob(t, "drift")
	report := func(runID string, rc *syncv1.Reconciliation) {
		runnerApply(g, sj, syncv1.SyncJobStatus{
			Cursor:  &syncv1.Cursor{UpdatedAt: "2026-06-30T12:00:00Z", ID: "50"},
			LastRun: &syncv1.RunRecord{RunID: runID, Phase: syncv1.RunPhaseSucceeded, Read: 1, Upserted: 1, Reconciliation: rc},
		})
	}
	waitDrifted := func(status metav1.ConditionStatus, reason, msg string) {
		g.Eventually(func(g Gomega) {
			cur := &syncv1.SyncJob{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), cur)).To(Succeed())
			c := meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionDrifted)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(status))
			g.Expect(c.Reason).To(Equal(reason))
			g.Expect(c.Message).To(ContainSubstring(msg))
		}, timeout, interval).Should(Succeed())
	}
	driftEvents := func(g Gomega) []string {
		evs := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, evs, client.InNamespace(sj.Namespace))).To(Succeed())
		var notes []string
		for _, e := range evs.Items {
			if e.Regarding.Name == sj.Name && e.Reason == syncv1.ReasonDriftDetected {
				g.Expect(e.Type).To(Equal(corev1.EventTypeWarning))
				notes = append(notes, e.Note)
			}
		}
		return notes
	}
	inStep := &syncv1.Reconciliation{SourceCount: 50, SinkCount: 50, Sampled: 20}
	drifted := func(key string) *syncv1.Reconciliation {
		return &syncv1.Reconciliation{SourceCount: 50, SinkCount: 50, Sampled: 20, Mismatched: 1, Drift: true,
			Mismatches: []syncv1.Mismatch{{Key: key, Fields: []string{"status"}}}}
	}

	waitDrifted(metav1.ConditionFalse, syncv1.ReasonDriftNotChecked, "no run yet")
	report("r1", inStep)
	waitDrifted(metav1.ConditionFalse, syncv1.ReasonNoDrift, "run r1")

	report("r2", drifted("billing:7"))
	waitDrifted(metav1.ConditionTrue, syncv1.ReasonDriftDetected, "billing:7 (status)")
	g.Eventually(driftEvents, timeout, interval).Should(ConsistOf(ContainSubstring("run r2")), "one Warning DriftDetected event")

	report("r3", drifted("billing:8")) // drift goes on: the condition follows, no new event
	waitDrifted(metav1.ConditionTrue, syncv1.ReasonDriftDetected, "billing:8 (status)")
	g.Consistently(driftEvents, 2*time.Second, interval).Should(HaveLen(1))

	report("r4", inStep)
	waitDrifted(metav1.ConditionFalse, syncv1.ReasonNoDrift, "run r4")
	report("r5", drifted("billing:9")) // drift again: a new event
	waitDrifted(metav1.ConditionTrue, syncv1.ReasonDriftDetected, "billing:9 (status)")
	g.Eventually(driftEvents, timeout, interval).Should(ConsistOf(ContainSubstring("run r2"), ContainSubstring("run r5")))
}
