package runstatus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

var epoch = time.Date(2026, 7, 1, 2, 0, 0, 0, time.UTC)

// run returns a finished run record: n-th run, started n hours after epoch.
func run(n int, phase syncv1.RunPhase) syncv1.RunRecord {
	start := metav1.NewTime(epoch.Add(time.Duration(n) * time.Hour))
	end := metav1.NewTime(start.Add(90 * time.Second))
	return syncv1.RunRecord{
		RunID: fmt.Sprintf("run-%02d", n), Trigger: "Scheduled", Phase: phase,
		StartTime: &start, CompletionTime: &end,
		Read: 842, Upserted: 840, Failed: 2,
		CursorEnd: &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"},
	}
}

func getSyncJob(g Gomega, c client.Client, ns string) *syncv1.SyncJob {
	var sj syncv1.SyncJob
	g.Expect(c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "sj1"}, &sj)).To(Succeed())
	return &sj
}

func events(g Gomega, c client.Client, ns string) []corev1.Event {
	var list corev1.EventList
	g.Expect(c.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

func TestPublishWritesRunnerFields(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c, ns := setup(t)
	w := NewWriter(runnerAPI(t), ns, "sj1", Options{Clock: clocktesting.NewFakeClock(epoch), Instance: "sj1-abcde"})

	cur := &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"}
	rec := run(1, syncv1.RunPhaseSucceeded)
	rec.Message = "retried postgres://crm:hunter2@db/crm once"
	g.Expect(w.Publish(ctx, rec, cur)).To(Succeed())

	st := getSyncJob(g, c, ns).Status
	g.Expect(st.Cursor).To(Equal(cur))
	g.Expect(st.LastRun.RunID).To(Equal("run-01"))
	g.Expect(st.LastRun.Read).To(Equal(int64(842)))
	g.Expect(st.LastRun.Message).To(Equal("retried postgres://REDACTED@db/crm once"))
	g.Expect(st.LastSuccessfulRunTime.Time).To(BeTemporally("==", rec.CompletionTime.Time))
	g.Expect(st.History).To(HaveLen(1))
	g.Expect(st.History[0].Summary).To(Equal("Succeeded: read 842, upserted 840, failed 2, cursor 2026-06-30T23:55:00.123456Z/inv_10492"))

	evs := events(g, c, ns)
	g.Expect(evs).To(HaveLen(1))
	g.Expect(evs[0].Type).To(Equal(corev1.EventTypeNormal))
	g.Expect(evs[0].Reason).To(Equal(ReasonRunSucceeded))
	g.Expect(evs[0].Message).To(Equal(st.History[0].Summary))
	g.Expect(evs[0].InvolvedObject.Kind).To(Equal("SyncJob"))
	g.Expect(evs[0].InvolvedObject.Name).To(Equal("sj1"))
	g.Expect(evs[0].ReportingInstance).To(Equal("sj1-abcde"))

	// Publishing the same run again (a retry) does not add a second history line.
	g.Expect(w.Publish(ctx, rec, cur)).To(Succeed())
	g.Expect(getSyncJob(g, c, ns).Status.History).To(HaveLen(1))
}

func TestPublishPhases(t *testing.T) {
	tests := []struct {
		phase         syncv1.RunPhase
		eventType     string
		reason        string
		movesLastGood bool
	}{
		{syncv1.RunPhaseSucceeded, corev1.EventTypeNormal, ReasonRunSucceeded, true},
		{syncv1.RunPhasePartiallySucceeded, corev1.EventTypeWarning, ReasonRunPartiallySucceeded, true},
		{syncv1.RunPhaseFailed, corev1.EventTypeWarning, ReasonRunFailed, false},
		{syncv1.RunPhaseInterrupted, corev1.EventTypeWarning, ReasonRunInterrupted, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.phase), func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			c, ns := setup(t)
			w := NewWriter(runnerAPI(t), ns, "sj1", Options{})
			first := &syncv1.Cursor{UpdatedAt: "2026-06-01T00:00:00Z", ID: "1"}
			g.Expect(w.Publish(ctx, run(1, syncv1.RunPhaseSucceeded), first)).To(Succeed())

			g.Expect(w.Publish(ctx, run(2, tc.phase), nil)).To(Succeed())
			st := getSyncJob(g, c, ns).Status
			g.Expect(st.LastRun.Phase).To(Equal(tc.phase))
			g.Expect(st.Cursor).To(Equal(first), "a nil cursor keeps the stored one")
			want := run(1, "").CompletionTime.Time
			if tc.movesLastGood {
				want = run(2, "").CompletionTime.Time
			}
			g.Expect(st.LastSuccessfulRunTime.Time).To(BeTemporally("==", want))
			g.Expect(st.History).To(HaveLen(2))
			g.Expect(st.History[0].Phase).To(Equal(tc.phase))

			var last corev1.Event
			for _, e := range events(g, c, ns) {
				if e.Message == st.History[0].Summary {
					last = e
				}
			}
			g.Expect(last.Type).To(Equal(tc.eventType))
			g.Expect(last.Reason).To(Equal(tc.reason))
		})
	}
}

func TestPublishRunningIsProgressOnly(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c, ns := setup(t)
	w := NewWriter(runnerAPI(t), ns, "sj1", Options{})

	rec := run(1, syncv1.RunPhaseRunning)
	rec.CompletionTime = nil
	cur := &syncv1.Cursor{UpdatedAt: "2026-06-01T00:00:00Z", ID: "7"}
	g.Expect(w.Publish(ctx, rec, cur)).To(Succeed())

	st := getSyncJob(g, c, ns).Status
	g.Expect(st.Cursor).To(Equal(cur))
	g.Expect(st.LastRun.Phase).To(Equal(syncv1.RunPhaseRunning))
	g.Expect(st.History).To(BeEmpty())
	g.Expect(st.LastSuccessfulRunTime).To(BeNil())
	g.Expect(events(g, c, ns)).To(BeEmpty())
}

func TestPublishHistoryBoundedNewestFirst(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c, ns := setup(t)
	w := NewWriter(runnerAPI(t), ns, "sj1", Options{})

	for n := 1; n <= 13; n++ {
		g.Expect(w.Publish(ctx, run(n, syncv1.RunPhaseSucceeded), nil)).To(Succeed())
	}
	var ids []string
	for _, h := range getSyncJob(g, c, ns).Status.History {
		ids = append(ids, h.RunID)
	}
	g.Expect(ids).To(Equal([]string{"run-13", "run-12", "run-11", "run-10", "run-09", "run-08", "run-07", "run-06", "run-05", "run-04"}))
}

func TestPublishKeepsControllerFields(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c, ns := setup(t)

	// The controller owns conditions and observedGeneration, applied under its own manager.
	ctrl := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": syncv1.GroupVersion.String(), "kind": "SyncJob",
		"metadata": map[string]any{"name": "sj1", "namespace": ns},
		"status": map[string]any{
			"observedGeneration":  int64(1),
			"checkpointConfigMap": "sj1-checkpoint",
			"conditions": []any{map[string]any{
				"type": syncv1.ConditionReady, "status": "True", "reason": syncv1.ReasonSucceeded,
				"message": "set up", "lastTransitionTime": epoch.Format(time.RFC3339),
			}},
		},
	}}
	g.Expect(c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(ctrl.DeepCopy()),
		client.FieldOwner("checkpointed-controller"))).To(Succeed())

	g.Expect(NewWriter(runnerAPI(t), ns, "sj1", Options{}).Publish(ctx, run(1, syncv1.RunPhaseFailed), nil)).To(Succeed())

	sj := getSyncJob(g, c, ns)
	g.Expect(sj.Status.Conditions).To(HaveLen(1))
	g.Expect(sj.Status.Conditions[0].Reason).To(Equal(syncv1.ReasonSucceeded))
	g.Expect(sj.Status.ObservedGeneration).To(Equal(int64(1)))
	g.Expect(sj.Status.CheckpointConfigMap).To(Equal("sj1-checkpoint"))
	g.Expect(sj.Status.LastRun.Phase).To(Equal(syncv1.RunPhaseFailed))

	// The runner's managed fields name only its own status fields, and spec is untouched.
	var runner *metav1.ManagedFieldsEntry
	for i, m := range sj.ManagedFields {
		if m.Manager == runcontract.RunnerFieldManager {
			runner = &sj.ManagedFields[i]
		}
	}
	g.Expect(runner).NotTo(BeNil())
	g.Expect(runner.Subresource).To(Equal("status"))
	owned := string(runner.FieldsV1.Raw)
	g.Expect(owned).To(ContainSubstring(`"f:lastRun"`))
	g.Expect(owned).To(ContainSubstring(`"f:history"`))
	for _, notOurs := range []string{`"f:conditions"`, `"f:observedGeneration"`, `"f:checkpointConfigMap"`, `"f:spec"`} {
		g.Expect(owned).NotTo(ContainSubstring(notOurs))
	}

	// And a later controller apply leaves the runner's fields alone.
	g.Expect(c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(ctrl.DeepCopy()),
		client.FieldOwner("checkpointed-controller"))).To(Succeed())
	g.Expect(getSyncJob(g, c, ns).Status.LastRun).NotTo(BeNil())
}

// Event is about the SyncJob, not a run: one Event, redacted and bounded, and no status.
func TestEventWritesOnlyTheEvent(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c, ns := setup(t)
	w := NewWriter(runnerAPI(t), ns, "sj1", Options{Instance: "reset-pod"})
	long := "reset request \"t1\": postgres://app:hunter2@db/x " + strings.Repeat("x", 2000)
	g.Expect(w.Event(ctx, corev1.EventTypeNormal, "CheckpointReset", long)).To(Succeed())

	evs := events(g, c, ns)
	g.Expect(evs).To(HaveLen(1))
	ev := evs[0]
	sj := getSyncJob(g, c, ns)
	g.Expect(ev.Type).To(Equal(corev1.EventTypeNormal))
	g.Expect(ev.Reason).To(Equal("CheckpointReset"))
	g.Expect(ev.InvolvedObject.UID).To(Equal(sj.UID))
	g.Expect(ev.ReportingInstance).To(Equal("reset-pod"))
	g.Expect(ev.Message).NotTo(ContainSubstring("hunter2"))
	g.Expect(len(ev.Message)).To(BeNumerically("<=", maxEventMessage))
	g.Expect(sj.Status.LastRun).To(BeNil())
	g.Expect(sj.Status.History).To(BeEmpty())

	g.Expect(NewWriter(runnerAPI(t), ns, "nope", Options{}).Event(ctx, corev1.EventTypeWarning, "X", "m")).
		To(MatchError(ContainSubstring("get SyncJob " + ns + "/nope")))
}
