package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/internal/runstatus/crapi"
)

// outcomeReasons are the Event reasons that tell a run's outcome, from the runner
// (runstatus) or from the controller's Ready condition.
var outcomeReasons = map[string]bool{
	runstatus.ReasonRunSucceeded: true, runstatus.ReasonRunPartiallySucceeded: true,
	runstatus.ReasonRunFailed: true, runstatus.ReasonRunInterrupted: true,
	syncv1.ReasonSucceeded: true, syncv1.ReasonPartiallyFailed: true,
}

// outcomeEvents returns the SyncJob's Events that tell a run's outcome, repeats counted.
func outcomeEvents(g Gomega, sj *syncv1.SyncJob, before map[string]bool) []string {
	evs := &corev1.EventList{}
	g.Expect(k8sClient.List(context.Background(), evs, client.InNamespace(sj.Namespace))).To(Succeed())
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Name != sj.Name || !outcomeReasons[e.Reason] || before[string(e.UID)] {
			continue
		}
		n := max(int(e.Count), 1)
		if e.Series != nil {
			n = max(n, int(e.Series.Count))
		}
		for range n {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

// TestOneEventPerRunOutcome: a run's outcome is told by one Event — the run's own (the
// runner's, or the controller's on behalf of a runner that died) — not repeated by the
// controller when Ready changes because of it. A PartiallySucceeded run's Event is a
// Warning.
func TestOneEventPerRunOutcome(t *testing.T) {
	for _, tc := range []struct {
		phase syncv1.RunPhase
		want  string
		ready metav1.ConditionStatus
	}{
		{syncv1.RunPhaseFailed, "Warning/RunFailed", metav1.ConditionFalse},
		{syncv1.RunPhasePartiallySucceeded, "Warning/RunPartiallySucceeded", metav1.ConditionTrue},
		{syncv1.RunPhaseSucceeded, "Normal/RunSucceeded", metav1.ConditionTrue},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			sj := readySyncJob(t, "outcome")
			earlier := map[string]bool{}
			evs := &corev1.EventList{}
			g.Expect(k8sClient.List(ctx, evs, client.InNamespace(sj.Namespace))).To(Succeed())
			for _, e := range evs.Items {
				earlier[string(e.UID)] = true // the SyncJob's creation ("no run yet")
			}
			now := metav1.NewTime(fakeClock.Now())
			w := runstatus.NewWriter(crapi.New(k8sClient), sj.Namespace, sj.Name, runstatus.Options{Clock: fakeClock})
			rec := syncv1.RunRecord{RunID: "outcome-abc-x1", Trigger: "Scheduled", Phase: tc.phase, StartTime: &now, CompletionTime: &now, Read: 3, Upserted: 2}
			if tc.phase != syncv1.RunPhaseSucceeded {
				rec.Failed, rec.Reason = 1, "RecordError"
			}
			g.Expect(w.Publish(ctx, rec, &syncv1.Cursor{UpdatedAt: "2026-06-01T00:00:00Z", ID: "1"})).To(Succeed())

			g.Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
				ready := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)
				g.Expect(ready.Status).To(Equal(tc.ready))
				g.Expect(ready.Message).To(ContainSubstring("outcome-abc-x1"))
			}, timeout, interval).Should(Succeed())
			g.Consistently(func(g Gomega) {
				g.Expect(outcomeEvents(g, sj, earlier)).To(Equal([]string{tc.want}))
			}, 3*time.Second, interval).Should(Succeed())
		})
	}
}
