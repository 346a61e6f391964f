package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestMappingChangedDecision: the MappingChanged condition from the last run's
// mappingChange. A pure table test.
func TestMappingChangedDecision(t *testing.T) {
	change := func(resync string) *syncv1.MappingChange {
		return &syncv1.MappingChange{Previous: "m1-aaaa", Current: "m1-bbbb", Resync: resync}
	}
	for _, tc := range []struct {
		name   string
		last   *syncv1.RunRecord
		status metav1.ConditionStatus // "" : no condition
		reason string
		msg    []string
		keep   bool
	}{
		{name: "no run yet", keep: true},
		{name: "no change", last: &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded}},
		{name: "a failed run that says nothing keeps the condition",
			last: &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseFailed}, keep: true},
		{name: "changed, nothing re-syncs",
			last:   &syncv1.RunRecord{RunID: "r2", Phase: syncv1.RunPhaseSucceeded, MappingChange: change("None")},
			status: metav1.ConditionTrue, reason: syncv1.ReasonResyncNeeded,
			msg: []string{"m1-bbbb", "m1-aaaa", "still carry the previous mapping",
				"kubectl annotate syncjob -n ns job sync.checkpointed.io/reset-to=beginning sync.checkpointed.io/reset-requested-at=",
				"onMappingChange: Backfill"}},
		{name: "a failed run during a re-sync",
			last:   &syncv1.RunRecord{RunID: "r3", Phase: syncv1.RunPhaseFailed, MappingChange: change("InProgress")},
			status: metav1.ConditionTrue, reason: syncv1.ReasonResyncInProgress, msg: []string{"run r3 is re-syncing"}},
		{name: "re-sync completed",
			last: &syncv1.RunRecord{RunID: "r4", Phase: syncv1.RunPhaseSucceeded, MappingChange: change("Completed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := readiness(readinessInput{lastRun: tc.last, name: "job", namespace: "ns"})
			g.Expect(v.keepMappingChanged).To(Equal(tc.keep))
			if tc.status == "" {
				g.Expect(v.mappingChanged).To(BeNil())
				return
			}
			g.Expect(v.mappingChanged).NotTo(BeNil())
			g.Expect(v.mappingChanged.status).To(Equal(tc.status))
			g.Expect(v.mappingChanged.reason).To(Equal(tc.reason))
			for _, m := range tc.msg {
				g.Expect(v.mappingChanged.message).To(ContainSubstring(m))
			}
		})
	}
}

// TestMappingChangedCondition: the runner's record of a mapping change sets the
// MappingChanged condition (with the reset request to run), a failed run that says nothing
// leaves it, and the run that completes the re-sync removes it.
func TestMappingChangedCondition(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "mapping-changed")
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	wait := func(check func(g Gomega, c *metav1.Condition)) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
			check(g, meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionMappingChanged))
		}, timeout, interval).Should(Succeed())
	}
	run := func(id string, phase syncv1.RunPhase, mc *syncv1.MappingChange) {
		runnerApply(g, sj, syncv1.SyncJobStatus{LastRun: &syncv1.RunRecord{RunID: id, Phase: phase, MappingChange: mc}})
	}
	run("r1", syncv1.RunPhaseSucceeded, nil)
	wait(func(g Gomega, c *metav1.Condition) {
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)).To(
			HaveField("Message", ContainSubstring("r1")), "the controller has seen run r1")
		g.Expect(c).To(BeNil())
	})

	run("r2", syncv1.RunPhaseSucceeded, &syncv1.MappingChange{Previous: "m1-aaaa", Current: "m1-bbbb", Resync: "None"})
	wait(func(g Gomega, c *metav1.Condition) {
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(syncv1.ReasonResyncNeeded))
		g.Expect(c.Message).To(ContainSubstring("kubectl annotate syncjob -n " + ns + " mapping-changed sync.checkpointed.io/reset-to=beginning"))
	})

	run("r3", syncv1.RunPhaseFailed, nil) // died before comparing the mappings
	wait(func(g Gomega, c *metav1.Condition) {
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)).To(
			HaveField("Message", ContainSubstring("r3")), "the controller has seen run r3")
		g.Expect(c).NotTo(BeNil(), "a run that said nothing about the mapping removed the condition")
		g.Expect(c.Reason).To(Equal(syncv1.ReasonResyncNeeded))
	})

	run("r4", syncv1.RunPhaseFailed, &syncv1.MappingChange{Previous: "m1-aaaa", Current: "m1-bbbb", Resync: "InProgress"})
	wait(func(g Gomega, c *metav1.Condition) {
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(syncv1.ReasonResyncInProgress))
	})

	run("r5", syncv1.RunPhaseSucceeded, &syncv1.MappingChange{Previous: "m1-aaaa", Current: "m1-bbbb", Resync: "Completed"})
	wait(func(g Gomega, c *metav1.Condition) {
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady)).To(
			HaveField("Message", ContainSubstring("r5")), "the controller has seen run r5")
		g.Expect(c).To(BeNil(), "the completed re-sync removes the condition")
	})
}
