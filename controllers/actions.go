package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// ReasonRequestPending is the Reconciling reason while an operator request waits for the
// active run to end.
const ReasonRequestPending = "RequestPending"

// requestRetry is how soon a deferred request is looked at again.
const requestRetry = 10 * time.Second

// actionOutcome is what handling the operator requests asks of the reconcile.
type actionOutcome struct {
	// pending explains a request that waits for the active run; empty when none waits.
	pending string
}

// handleRequests acts on the run, reset and backfill request annotations. Each token is
// handled exactly once and recorded in status (lastHandled*Request); a request that
// cannot be acted on yet (a run is active) is left pending and looked at again; an invalid
// one is recorded as handled with a Warning event, so that it does not loop.
func (r *SyncJobReconciler) handleRequests(ctx context.Context, sj *syncv1.SyncJob, st *syncv1.SyncJobStatus, seen runs) (actionOutcome, error) {
	var out actionOutcome
	ann := sj.Annotations
	active := seen.active
	// A token that already has its Job was handled, whatever the (cached) status says.
	if token := ann[syncv1.RunRequestedAnnotation]; token != "" && seen.requested[runcontract.RequestedJobName(sj.Name, runcontract.KindRun, token)] {
		st.LastHandledRunRequest = token
	}
	if token := ann[syncv1.BackfillRequestedAnnotation]; token != "" && seen.requested[runcontract.RequestedJobName(sj.Name, runcontract.KindBackfill, token)] {
		st.LastHandledBackfillRequest = token
	}
	wait := func(what, token string) {
		out.pending = fmt.Sprintf("%s request %q waits for the active run (Job %s)", what, token, active.Name)
	}

	if token := ann[syncv1.ResetRequestedAnnotation]; token != "" && token != st.LastHandledResetRequest {
		if active != nil {
			wait("reset", token)
		} else if err := r.reset(ctx, sj, token, ann[syncv1.ResetToAnnotation]); errors.Is(err, checkpoint.ErrLocked) {
			out.pending = fmt.Sprintf("reset request %q waits: %v", token, err)
		} else if err != nil && !isInvalid(err) {
			return out, err
		} else {
			st.LastHandledResetRequest = token
		}
	}

	if token := ann[syncv1.BackfillRequestedAnnotation]; token != "" && token != st.LastHandledBackfillRequest && out.pending == "" {
		bf, err := parseBackfill(ann, token)
		switch {
		case err != nil:
			r.warn(sj, "InvalidBackfillRequest", err.Error())
			st.LastHandledBackfillRequest = token
		case active != nil:
			wait("backfill", token)
		default:
			if err := r.startJob(ctx, sj, token, bf); err != nil {
				return out, err
			}
			st.LastHandledBackfillRequest = token
			return out, nil // one new run per reconcile: the next request waits for it
		}
	}

	if token := ann[syncv1.RunRequestedAnnotation]; token != "" && token != st.LastHandledRunRequest && out.pending == "" {
		if active != nil {
			wait("run", token)
		} else {
			if err := r.startJob(ctx, sj, token, nil); err != nil {
				return out, err
			}
			st.LastHandledRunRequest = token
		}
	}
	return out, nil
}

// invalidRequest marks a request whose annotations cannot be acted on.
type invalidRequest struct{ error }

func isInvalid(err error) bool {
	var inv invalidRequest
	return errors.As(err, &inv)
}

// reset rewrites the stored cursor to the target of reset-to, holding the run Lease while
// it does, so that it never races a run. An invalid target is reported and handled.
func (r *SyncJobReconciler) reset(ctx context.Context, sj *syncv1.SyncJob, token, to string) error {
	target, err := checkpoint.ParseResetTarget(to)
	if err != nil {
		msg := fmt.Sprintf("reset request %q: annotation %s: %v", token, syncv1.ResetToAnnotation, err)
		r.warn(sj, "InvalidResetRequest", msg)
		return invalidRequest{errors.New(msg)}
	}
	if r.Clientset == nil {
		return errors.New("reset needs a clientset")
	}
	lock := checkpoint.NewLeaseLock(r.Clientset, sj.Namespace, sj.Name, checkpoint.NewHolderIdentity(runcontract.ControllerFieldManager), checkpoint.LeaseOptions{})
	_, release, err := lock.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("reset checkpoint of %s: %w", sj.Name, err)
	}
	defer release()
	store := checkpoint.NewConfigMapStore(r.Clientset, sj.Namespace, sj.Name)
	state, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("reset checkpoint of %s: %w", sj.Name, err)
	}
	state.Job = sj.Name
	state.Cursor = target
	if err := store.Save(ctx, state); err != nil {
		return fmt.Errorf("reset checkpoint of %s: %w", sj.Name, err)
	}
	where := "the beginning"
	if target != nil {
		where = target.Format()
	}
	r.event(sj, corev1.EventTypeNormal, "CheckpointReset", fmt.Sprintf("reset request %q: the checkpoint now starts at %s", token, where))
	return nil
}

// parseBackfill reads backfill-from and backfill-to: RFC3339 times, from before to.
func parseBackfill(ann map[string]string, token string) (*desired.Backfill, error) {
	from, to := ann[syncv1.BackfillFromAnnotation], ann[syncv1.BackfillToAnnotation]
	f, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return nil, fmt.Errorf("backfill request %q: annotation %s %q is not an RFC3339 time", token, syncv1.BackfillFromAnnotation, from)
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return nil, fmt.Errorf("backfill request %q: annotation %s %q is not an RFC3339 time", token, syncv1.BackfillToAnnotation, to)
	}
	if !f.Before(t) {
		return nil, fmt.Errorf("backfill request %q: %s must be before %s", token, syncv1.BackfillFromAnnotation, syncv1.BackfillToAnnotation)
	}
	return &desired.Backfill{From: f.UTC().Format(time.RFC3339Nano), To: t.UTC().Format(time.RFC3339Nano), Key: token}, nil
}

// startJob creates the Job of a requested run. A Job that already exists for this token
// (a reconcile that created it but did not get to record the token) counts as started.
func (r *SyncJobReconciler) startJob(ctx context.Context, sj *syncv1.SyncJob, token string, bf *desired.Backfill) error {
	job := desired.RequestedJob(sj, r.Options, token, bf)
	existing := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: *job.Name}, existing)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get Job %s: %w", *job.Name, err)
	}
	if err := r.Apply(ctx, job, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		return fmt.Errorf("create Job %s for request %q: %w", *job.Name, token, err)
	}
	what := "run"
	if bf != nil {
		what = fmt.Sprintf("backfill of [%s, %s)", bf.From, bf.To)
	}
	r.event(sj, corev1.EventTypeNormal, "RunRequested", fmt.Sprintf("request %q: started %s as Job %s", token, what, *job.Name))
	return nil
}

// jobFinished reports whether a Job has ended, and whether it failed.
func jobFinished(j *batchv1.Job) (done, failed bool) {
	for _, c := range j.Status.Conditions {
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

// warn records a Warning event on the SyncJob.
func (r *SyncJobReconciler) warn(sj *syncv1.SyncJob, reason, msg string) {
	r.event(sj, corev1.EventTypeWarning, reason, msg)
}

func (r *SyncJobReconciler) event(sj *syncv1.SyncJob, typ, reason, msg string) {
	if r.Events != nil {
		r.Events.Eventf(sj, nil, typ, reason, "Reconcile", "%s", msg)
	}
}
