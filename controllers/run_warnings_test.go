package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestReadyMessageCarriesRunWarnings: the last run's warnings (offset pagination can miss
// records) are added to the Ready message, without changing Ready's status or reason.
func TestReadyMessageCarriesRunWarnings(t *testing.T) {
	g := NewWithT(t)
	warn := "offset pagination (pagination.type Offset) can miss a record with no error"
	v := readiness(readinessInput{lastRun: &syncv1.RunRecord{RunID: "r1", Phase: syncv1.RunPhaseSucceeded, Warnings: []string{warn}}})
	g.Expect(v.ready).To(Equal(condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "run r1 succeeded; warning: " + warn}))

	v = readiness(readinessInput{lastRun: &syncv1.RunRecord{RunID: "r2", Phase: syncv1.RunPhasePartiallySucceeded, Failed: 1,
		Warnings: []string{warn, "other"}}})
	g.Expect(v.ready).To(Equal(condition{metav1.ConditionTrue, syncv1.ReasonPartiallyFailed,
		"run r2 finished with 1 failed records; warning: " + warn + "; warning: other"}))
}
