// Package jobstate reads a run's outcome from its batch/v1 Job: the one rule the
// controller and the kubectl plugin share for "has this run's Job ended, and did it fail".
package jobstate

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Finished reports whether job has ended and whether it failed. A Job has ended at its
// first true terminal condition: Complete or SuccessCriteriaMet (succeeded), Failed or
// FailureTarget (failed; FailureTarget is set before the Job's Pods are gone and Failed
// follows). A Job without one is still running, whatever its Pods say.
func Finished(job *batchv1.Job) (done, failed bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return true, false
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			return true, true
		}
	}
	return false, false
}
