package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/jobstate"
	"github.com/checkpointed/checkpointed/internal/runcontract"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	batchac "k8s.io/client-go/applyconfigurations/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// ReasonRequestPending is the Reconciling reason while an operator request waits for the
// active run or reset Job to end.
const ReasonRequestPending = "RequestPending"

// requestRetry is how soon a waiting request is looked at again.
const requestRetry = 10 * time.Second

// handleRequests acts on the run, reset and backfill request annotations. Each token is
// handled exactly once and recorded in status (lastHandled*Request): a token whose Job
// exists counts as handled, whatever the (cached) status says. A request becomes a Job
// (a reset Job runs the runner's checkpoint reset); while a run or reset Job is active,
// requests wait (st.pending) and are looked at again; an invalid one is recorded as
// handled with a Warning event, so that it does not loop. At most one Job is started per
// reconcile, reset before backfill before reconcile before run.
func (r *SyncJobReconciler) handleRequests(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	ann := sj.Annotations
	seen := st.runs
	if unhandledRequest(sj, st) {
		// About to start a Job, maybe: the cache may not show yet a Job this controller
		// just created (the reset still active, or the token's own Job), so which Jobs
		// exist and which is active is read from the apiserver.
		live, err := r.liveRuns(ctx, sj)
		if err != nil {
			return stepResult{}, err
		}
		seen = live
	}
	active := seen.active
	hasJob := func(kind runcontract.RequestKind, token string) bool {
		return token != "" && seen.requested[runcontract.RequestedJobName(sj.Name, kind, token)]
	}
	if token := ann[syncv1.RunRequestedAnnotation]; hasJob(runcontract.KindRun, token) {
		st.status.LastHandledRunRequest = token
	}
	if token := ann[syncv1.BackfillRequestedAnnotation]; hasJob(runcontract.KindBackfill, token) {
		st.status.LastHandledBackfillRequest = token
	}
	if token := ann[syncv1.ResetRequestedAnnotation]; hasJob(runcontract.KindReset, token) {
		st.status.LastHandledResetRequest = token
	}
	if token := ann[syncv1.ReconcileRequestedAnnotation]; hasJob(runcontract.KindReconcile, token) {
		st.status.LastHandledReconcileRequest = token
	}
	wait := func(what, token string) {
		st.pending = fmt.Sprintf("%s request %q waits for the active run (Job %s)", what, token, active.Name)
	}
	waiting := func() (stepResult, error) {
		if st.pending == "" {
			return stepResult{}, nil
		}
		return stepResult{requeueAfter: requestRetry}, nil
	}

	if token := ann[syncv1.ResetRequestedAnnotation]; token != "" && token != st.status.LastHandledResetRequest {
		reset, err := parseReset(ann, token)
		switch {
		case err != nil:
			r.warn(sj, "InvalidResetRequest", err.Error())
			st.status.LastHandledResetRequest = token
		case active != nil:
			wait("reset", token)
		default:
			job := desired.ResetJob(sj, r.Options, token, reset)
			what := fmt.Sprintf("reset of the checkpoint to %s", reset.To)
			if reset.ClearFailedKeys {
				what += ", forgetting the failed keys"
			}
			if err := r.createRequestedJob(ctx, sj, job, token, "ResetRequested", what); err != nil {
				return stepResult{}, err
			}
			st.status.LastHandledResetRequest = token
			return stepResult{}, nil // one new Job per reconcile: the next request waits for it
		}
	}

	if token := ann[syncv1.BackfillRequestedAnnotation]; token != "" && token != st.status.LastHandledBackfillRequest && st.pending == "" {
		bf, err := parseBackfill(ann, token)
		switch {
		case err != nil:
			r.warn(sj, "InvalidBackfillRequest", err.Error())
			st.status.LastHandledBackfillRequest = token
		case active != nil:
			wait("backfill", token)
		default:
			job := desired.RequestedJob(sj, r.Options, token, bf)
			if err := r.createRequestedJob(ctx, sj, job, token, "RunRequested", fmt.Sprintf("backfill of [%s, %s)", bf.From, bf.To)); err != nil {
				return stepResult{}, err
			}
			st.status.LastHandledBackfillRequest = token
			return stepResult{}, nil // one new Job per reconcile: the next request waits for it
		}
	}

	if token := ann[syncv1.ReconcileRequestedAnnotation]; token != "" && token != st.status.LastHandledReconcileRequest && st.pending == "" {
		if active != nil {
			wait("reconcile", token)
		} else {
			job := desired.ReconcileJob(sj, r.Options, token)
			if err := r.createRequestedJob(ctx, sj, job, token, "RunRequested", "run with full key reconciliation"); err != nil {
				return stepResult{}, err
			}
			st.status.LastHandledReconcileRequest = token
			return stepResult{}, nil // one new Job per reconcile: the next request waits for it
		}
	}

	if token := ann[syncv1.RunRequestedAnnotation]; token != "" && token != st.status.LastHandledRunRequest && st.pending == "" {
		if active != nil {
			wait("run", token)
		} else {
			job := desired.RequestedJob(sj, r.Options, token, nil)
			if err := r.createRequestedJob(ctx, sj, job, token, "RunRequested", "run"); err != nil {
				return stepResult{}, err
			}
			st.status.LastHandledRunRequest = token
		}
	}
	return waiting()
}

// unhandledRequest reports whether a request annotation holds a token that neither the
// (cached) status nor a (cached) Job accounts for.
func unhandledRequest(sj *syncv1.SyncJob, st *reconcileState) bool {
	for _, rq := range []struct {
		ann, handled string
		kind         runcontract.RequestKind
	}{
		{syncv1.RunRequestedAnnotation, st.status.LastHandledRunRequest, runcontract.KindRun},
		{syncv1.BackfillRequestedAnnotation, st.status.LastHandledBackfillRequest, runcontract.KindBackfill},
		{syncv1.ResetRequestedAnnotation, st.status.LastHandledResetRequest, runcontract.KindReset},
		{syncv1.ReconcileRequestedAnnotation, st.status.LastHandledReconcileRequest, runcontract.KindReconcile},
	} {
		token := sj.Annotations[rq.ann]
		if token != "" && token != rq.handled && !st.runs.requested[runcontract.RequestedJobName(sj.Name, rq.kind, token)] {
			return true
		}
	}
	return false
}

// liveRuns reads the SyncJob's Jobs from the apiserver (APIReader): the names of all, and
// the newest one still active (a preflight Job never counts) (not finished, not being deleted, not recorded as failed by
// observeRuns). A Job whose Pod cannot start counts as active here until observeRuns has
// recorded and deleted it: a request waits rather than runs next to it.
func (r *SyncJobReconciler) liveRuns(ctx context.Context, sj *syncv1.SyncJob) (runs, error) {
	var reader client.Reader = r.Client
	if r.APIReader != nil {
		reader = r.APIReader
	}
	jobs := &batchv1.JobList{}
	if err := reader.List(ctx, jobs, client.InNamespace(sj.Namespace), client.MatchingLabels{runcontract.LabelJob: sj.Name}); err != nil {
		return runs{}, fmt.Errorf("list Jobs of %s from the apiserver: %w", sj.Name, err)
	}
	out := runs{requested: map[string]bool{}, finished: map[string]bool{}}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		out.requested[job.Name] = true
		if job.Labels[runcontract.LabelPreflight] != "" {
			continue // a preflight reads only: a request never waits for it (reconcilePreflight)
		}
		if !job.DeletionTimestamp.IsZero() || job.Annotations[AnnotationRecorded] != "" {
			continue
		}
		if done, _ := jobstate.Finished(job); done {
			continue
		}
		if out.active == nil || out.active.CreationTimestamp.Before(&job.CreationTimestamp) {
			out.active = job
		}
	}
	return out, nil
}

// parseReset reads a reset request's annotations with the runner's own rules
// (runcontract.ParseResetTarget, runcontract.ParseClearFailedKeys), so a request the
// runner would refuse never becomes a Job; the target is passed on in UTC. An invalid
// value is an error that names the annotation and the value.
func parseReset(ann map[string]string, token string) (desired.Reset, error) {
	target, err := runcontract.ParseResetTarget(ann[syncv1.ResetToAnnotation])
	if err != nil {
		return desired.Reset{}, fmt.Errorf("reset request %q: annotation %s: %w", token, syncv1.ResetToAnnotation, err)
	}
	clearFailed, err := runcontract.ParseClearFailedKeys(ann[syncv1.ResetFailedKeysAnnotation])
	if err != nil {
		return desired.Reset{}, fmt.Errorf("reset request %q: annotation %s: %w", token, syncv1.ResetFailedKeysAnnotation, err)
	}
	reset := desired.Reset{To: runcontract.ResetToBeginning, ClearFailedKeys: clearFailed}
	if target != nil {
		reset.To = target.Format()
	}
	return reset, nil
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

// createRequestedJob creates the Job of a request and records a Normal Event reason
// saying what it does. A Job that already exists for this token (a reconcile that created
// it but did not get to record the token) counts as created.
func (r *SyncJobReconciler) createRequestedJob(ctx context.Context, sj *syncv1.SyncJob, job *batchac.JobApplyConfiguration, token, reason, what string) error {
	name := ptr.Deref(job.Name, "")
	var reader client.Reader = r.Client
	if r.APIReader != nil {
		reader = r.APIReader // the cache may not show a Job created a moment ago
	}
	err := reader.Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: name}, &batchv1.Job{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get Job %s: %w", name, err)
	}
	if err := r.Apply(ctx, job, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		return fmt.Errorf("create Job %s for request %q: %w", name, token, err)
	}
	r.event(sj, corev1.EventTypeNormal, reason, fmt.Sprintf("request %q: started %s as Job %s", token, what, name))
	return nil
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
