package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// reconcilePreflight starts a preflight Job (`runner plan --in-cluster`) once per spec
// generation and once per plan-requested-at token, and turns its Pod's outcome into
// status.preflight: Passed or Failed from the runner's termination message
// (runcontract.ParsePreflightMessage), Failed when the Pod cannot be built (a missing
// Secret or key: the kubelet's message names it), Pending while it
// runs or cannot start for a reason outside the SyncJob (image pull, unschedulable). A
// preflight is not a run: it never touches lastRun, history or the cursor.
func (r *SyncJobReconciler) reconcilePreflight(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	now := metav1.NewTime(r.Clock.Now())
	start := func(name string) {
		st.status.Preflight = &syncv1.PreflightStatus{Generation: sj.Generation, Job: name,
			Result: syncv1.PreflightPending, Message: fmt.Sprintf("preflight Job %s started", name), Time: &now}
	}
	if token := sj.Annotations[syncv1.PlanRequestedAnnotation]; token != "" && token != st.status.LastHandledPlanRequest {
		start(runcontract.RequestedJobName(sj.Name, runcontract.KindPlan, token))
		st.status.LastHandledPlanRequest = token
	} else if pf := st.status.Preflight; pf == nil || pf.Generation != sj.Generation {
		start(runcontract.PreflightJobName(sj.Name, sj.Generation))
	}
	pf := st.status.Preflight
	if pf.Result != syncv1.PreflightPending {
		return stepResult{}, nil
	}
	// The Job and Pod watches bring the reconciles that follow it; a Job that vanished while
	// pending is made again. It is only ever created (createOwned: a plain create, which
	// costs the apiserver less than an apply), never kept in line.
	job := &batchv1.Job{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: pf.Job}, job); apierrors.IsNotFound(err) {
		if err := r.createOwned(ctx, &batchv1.Job{}, desired.PreflightJob(sj, r.Options, pf.Job),
			client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
			return stepResult{}, fmt.Errorf("create preflight Job %s: %w", pf.Job, err)
		}
		return stepResult{}, nil
	} else if err != nil {
		return stepResult{}, fmt.Errorf("get preflight Job %s: %w", pf.Job, err)
	}
	pods, err := r.podsOf(ctx, job)
	if err != nil {
		return stepResult{}, err
	}
	out := preflightOutcome(job, pods)
	if out.result == syncv1.PreflightPending {
		if out.message != "" {
			pf.Message = out.message
		}
		return stepResult{}, nil
	}
	// A Job whose Pod cannot be built is left to its activeDeadlineSeconds and TTL: deleting
	// it here could race a stale cache into making it again.
	pf.Result, pf.Message, pf.Time = out.result, out.message, &now
	return stepResult{}, nil
}

// outcome is what a preflight Job's Pods say.
type outcome struct {
	result, message string
}

// preflightOutcome reads a preflight Job's verdict from its Pods (pure): the runner's
// termination message; a Pod that cannot be built (CreateContainerConfigError: a missing
// Secret or key) is a failure; an image that cannot be pulled or a Pod that cannot be
// scheduled keeps it pending with the reason; a Job that ended without a verdict from the
// runner is pending too (nothing was checked).
func preflightOutcome(job *batchv1.Job, pods []corev1.Pod) outcome {
	for i := range pods {
		p := &pods[i]
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				if passed, msg, ok := runcontract.ParsePreflightMessage(t.Message); ok {
					if passed {
						return outcome{result: syncv1.PreflightPassed, message: msg}
					}
					return outcome{result: syncv1.PreflightFailed, message: msg}
				}
				if t.ExitCode != 0 {
					return outcome{result: syncv1.PreflightFailed, message: fmt.Sprintf("the preflight Pod %s exited with code %d (%s): %s",
						p.Name, t.ExitCode, t.Reason, t.Message)}
				}
			}
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "CreateContainerConfigError", "CreateContainerError":
					return outcome{result: syncv1.PreflightFailed,
						message: fmt.Sprintf("the runner cannot start: %s: %s", w.Reason, w.Message)}
				case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull":
					return outcome{result: syncv1.PreflightPending,
						message: fmt.Sprintf("preflight Job %s cannot start: %s: %s", job.Name, w.Reason, w.Message)}
				}
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return outcome{result: syncv1.PreflightPending,
					message: fmt.Sprintf("preflight Job %s cannot start: Pod %s is unschedulable: %s", job.Name, p.Name, c.Message)}
			}
		}
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
			return outcome{result: syncv1.PreflightPending, message: fmt.Sprintf(
				"preflight Job %s ended without a verdict from the runner (%s: %s); request another with the %s annotation",
				job.Name, c.Reason, c.Message, syncv1.PlanRequestedAnnotation)}
		}
	}
	return outcome{result: syncv1.PreflightPending}
}

// preflightCondition is the Preflight condition of status.preflight; nil when no preflight
// was started.
func preflightCondition(pf *syncv1.PreflightStatus) *condition {
	if pf == nil {
		return nil
	}
	switch pf.Result {
	case syncv1.PreflightPassed:
		return &condition{metav1.ConditionTrue, syncv1.ReasonPreflightPassed, pf.Message}
	case syncv1.PreflightFailed:
		return &condition{metav1.ConditionFalse, syncv1.ReasonPreflightFailed, pf.Message}
	}
	return &condition{metav1.ConditionUnknown, syncv1.ReasonPreflightPending, pf.Message}
}
