package controllers

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestReadinessRefused: a SyncJob refused for the cluster's safety (NameConflict,
// RunnerImageNotAllowed) is Stalled and not Ready with that reason, whatever its last run
// said and even when the reconcile also failed; an invalid spec still comes first. Pure.
func TestReadinessRefused(t *testing.T) {
	lastOK := &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded}
	for _, tc := range []struct {
		name   string
		in     readinessInput
		reason string
		msg    string
	}{
		{"name conflict after a good run",
			readinessInput{lastRun: lastOK, refused: &condition{metav1.ConditionFalse, syncv1.ReasonNameConflict, "CronJob ns/x exists"}},
			syncv1.ReasonNameConflict, "CronJob ns/x exists"},
		{"image not allowed, reconcile error too",
			readinessInput{err: errors.New("boom"), refused: &condition{metav1.ConditionFalse, syncv1.ReasonRunnerImageNotAllowed, "image"}},
			syncv1.ReasonRunnerImageNotAllowed, "image"},
		{"invalid spec first",
			readinessInput{invalidSpec: errors.New("bad schedule"), refused: &condition{metav1.ConditionFalse, syncv1.ReasonNameConflict, "x"}},
			syncv1.ReasonInvalidSpec, "bad schedule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := readiness(tc.in)
			g.Expect(v.ready).To(Equal(condition{metav1.ConditionFalse, tc.reason, tc.msg}))
			g.Expect(v.stalled).To(Equal(&condition{metav1.ConditionTrue, tc.reason, tc.msg}))
			g.Expect(v.reconciling).To(BeNil())
			g.Expect(v.drifted).To(BeNil(), "nothing learned about drift")
			g.Expect(v.keepMappingChanged).To(BeTrue())
		})
	}
}
