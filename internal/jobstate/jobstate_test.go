package jobstate

import (
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestFinished: the terminal conditions end a Job, true ones only; the others do not.
func TestFinished(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, s corev1.ConditionStatus) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: s}
	}
	for _, tc := range []struct {
		name         string
		conditions   []batchv1.JobCondition
		done, failed bool
	}{
		{"no conditions: running", nil, false, false},
		{"suspended", []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionTrue)}, false, false},
		{"complete", []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionTrue)}, true, false},
		{"success criteria met, before Complete", []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue)}, true, false},
		{"failed", []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue)}, true, true},
		{"failure target, before Failed", []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue)}, true, true},
		{"a terminal condition not true", []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionFalse), cond(batchv1.JobFailed, corev1.ConditionUnknown)}, false, false},
		{"suspended, then failed", []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionFalse), cond(batchv1.JobFailed, corev1.ConditionTrue)}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			done, failed := Finished(&batchv1.Job{Status: batchv1.JobStatus{Conditions: tc.conditions}})
			g.Expect(done).To(Equal(tc.done), "done")
			g.Expect(failed).To(Equal(tc.failed), "failed")
		})
	}
}
