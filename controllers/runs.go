package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/jobstate"
	"github.com/checkpointed/checkpointed/internal/runcontract"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/internal/runstatus/crapi"
)

// AnnotationRecorded marks a Job whose failure the controller handled: for a run, recorded
// in the SyncJob's status on the runner's behalf; for a reset Job, reported with the
// ResetFailed Event. Its value is the failure's reason.
const AnnotationRecorded = "sync.checkpointed.io/failure-recorded"

// stuckReason reports whether a container waiting reason is one that a run does not
// recover from by itself: the image cannot be had, or the Pod cannot be built (a missing
// Secret or key).
func stuckReason(reason string) bool {
	switch reason {
	case "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError":
		return true
	}
	return false
}

// ReasonResetFailed is the reason of the Warning Event for a reset Job that failed (or
// cannot start): the checkpoint was not reset.
const ReasonResetFailed = "ResetFailed"

// observeRuns looks at the SyncJob's Jobs (scheduled and requested runs, reset Jobs) and
// records in st.runs which one is active and which exist.
//
// A run that ended without the runner reporting it (OOMKilled, past its deadline,
// crashed) or that cannot start (no image, a missing Secret) is recorded as a failed
// lastRun with the reason by publishOnRunnersBehalf: runner-owned status, written under
// the runner's field manager (runcontract.RunnerFieldManager). A reset Job is not a run:
// its failure is one Warning Event ResetFailed instead. Either way the Job is annotated
// AnnotationRecorded so that it is handled once, and a Job that cannot start is deleted
// so that it does not block the schedule or later requests.
func (r *SyncJobReconciler) observeRuns(ctx context.Context, sj *syncv1.SyncJob, st *reconcileState) (stepResult, error) {
	jobs := &batchv1.JobList{}
	if err := r.List(ctx, jobs, client.InNamespace(sj.Namespace), client.MatchingFields{indexJobsOfSyncJob: sj.Name}); err != nil {
		return stepResult{}, fmt.Errorf("list Jobs of %s: %w", sj.Name, err)
	}
	sort.Slice(jobs.Items, func(i, j int) bool {
		return jobs.Items[i].CreationTimestamp.Before(&jobs.Items[j].CreationTimestamp)
	})
	st.runs = runs{requested: map[string]bool{}, finished: map[string]bool{}}
	st.status.ActiveRun = nil
	defer func() {
		if token := sj.Annotations[syncv1.RunRequestedAnnotation]; token != "" && st.runs.finished[runcontract.RequestedJobName(sj.Name, runcontract.KindRun, token)] {
			st.status.LastFinishedRunRequest = token
		}
	}()
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if job.Labels[runcontract.LabelPreflight] != "" {
			continue // a preflight is not a run (reconcilePreflight)
		}
		st.runs.requested[job.Name] = true
		if job.Annotations[AnnotationRecorded] != "" {
			st.runs.finished[job.Name] = true
			continue
		}
		if !job.DeletionTimestamp.IsZero() {
			continue
		}
		pods, err := r.podsOf(ctx, job)
		if err != nil {
			return stepResult{}, err
		}
		done, failed := jobstate.Finished(job)
		stuck := stuckPod(pods)
		switch {
		case !done && stuck == nil:
			st.runs.active = job
			st.status.ActiveRun = activeRun(job, pods)
			continue
		case done && !failed:
			st.runs.finished[job.Name] = true
			continue
		}
		st.runs.finished[job.Name] = true
		reset := triggerOf(job) == runcontract.TriggerReset
		if !reset && reported(sj, job, pods) {
			continue
		}
		rec := failedRun(job, pods, stuck, r.Clock.Now())
		if reset {
			r.warn(sj, ReasonResetFailed, fmt.Sprintf("reset request %q: Job %s failed, the checkpoint was not reset: %s: %s",
				job.Annotations[runcontract.AnnotationRequest], job.Name, rec.Reason, rec.Message))
		} else if err := r.publishOnRunnersBehalf(ctx, sj, rec); err != nil {
			return stepResult{}, fmt.Errorf("record failed run of Job %s: %w", job.Name, err)
		}
		patch := client.MergeFrom(job.DeepCopy())
		if job.Annotations == nil {
			job.Annotations = map[string]string{}
		}
		job.Annotations[AnnotationRecorded] = rec.Reason
		if err := r.Patch(ctx, job, patch); err != nil {
			return stepResult{}, fmt.Errorf("mark Job %s recorded: %w", job.Name, err)
		}
		if stuck != nil {
			if err := r.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return stepResult{}, fmt.Errorf("delete stuck Job %s: %w", job.Name, err)
			}
		}
	}
	return stepResult{}, nil
}

// publishOnRunnersBehalf records rec, a run that died before its runner could report it,
// as the SyncJob's lastRun (and a history line, and a RunFailed Event) through
// runstatus.Writer. These are runner-owned status fields: they are applied under the
// runner's field manager, runcontract.RunnerFieldManager, not the controller's; the
// controller's own fields are written only by patchStatus. status.cursor becomes the
// stored checkpoint's cursor (storedCursor): the run may have committed pages, and saved
// them in the checkpoint, after it last published its progress.
func (r *SyncJobReconciler) publishOnRunnersBehalf(ctx context.Context, sj *syncv1.SyncJob, rec syncv1.RunRecord) error {
	stored, err := r.storedCursor(ctx, sj)
	if err != nil {
		return fmt.Errorf("publish run %s on the runner's behalf: %w", rec.RunID, err)
	}
	w := runstatus.NewWriter(crapi.New(r.Client), sj.Namespace, sj.Name, runstatus.Options{Clock: r.Clock, Instance: runcontract.ControllerFieldManager})
	if err := w.Publish(ctx, rec, stored); err != nil {
		return fmt.Errorf("publish run %s on the runner's behalf: %w", rec.RunID, err)
	}
	return nil
}

// storedCursor is the cursor of the SyncJob's stored checkpoint, read past the cache (the
// runner may have saved it a moment before it died), rendered for status.cursor; nil
// when no checkpoint or no cursor is stored, or when the checkpoint cannot be read as one
// (the next run reports that; the status cursor is then left as it is).
func (r *SyncJobReconciler) storedCursor(ctx context.Context, sj *syncv1.SyncJob) (*syncv1.Cursor, error) {
	cm := &corev1.ConfigMap{}
	err := r.reader().Get(ctx, client.ObjectKey{Namespace: sj.Namespace, Name: desired.CheckpointName(sj)}, cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get checkpoint ConfigMap %s: %w", desired.CheckpointName(sj), err)
	}
	data := cm.Data[runcontract.CheckpointKey]
	if data == "" {
		return nil, nil
	}
	cp, err := runcontract.DecodeCheckpoint(sj.Name, []byte(data))
	if err != nil {
		log.FromContext(ctx).Info("stored checkpoint unreadable; status cursor left as it is", "configMap", cm.Name, "error", err.Error())
		return nil, nil
	}
	return runstatus.CursorOf(cp.Cursor), nil
}

// runs is what observeRuns saw.
type runs struct {
	// active is the newest Job still running (a run or a reset), if any.
	active *batchv1.Job
	// requested holds the names of the runs' Jobs: a request whose Job exists was acted
	// on, even when the cached status lags behind.
	requested map[string]bool
	// finished holds the names of the Jobs that have ended (succeeded, or failed and
	// recorded).
	finished map[string]bool
}

// activeRun describes an active Job for status.activeRun: its trigger, start, and the
// phase of its newest Pod, with why a Pending Pod waits.
func activeRun(job *batchv1.Job, pods []corev1.Pod) *syncv1.ActiveRun {
	a := &syncv1.ActiveRun{Name: job.Name, Trigger: triggerOf(job), StartTime: job.Status.StartTime}
	if a.StartTime == nil {
		a.StartTime = job.CreationTimestamp.DeepCopy()
	}
	var newest *corev1.Pod
	for i := range pods {
		if newest == nil || newest.CreationTimestamp.Before(&pods[i].CreationTimestamp) {
			newest = &pods[i]
		}
	}
	if newest == nil {
		return a
	}
	a.PodPhase = string(newest.Status.Phase)
	if newest.Status.Phase != corev1.PodPending {
		return a
	}
	for _, c := range newest.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			a.PendingReason = strings.TrimSuffix(c.Reason+": "+c.Message, ": ")
			return a
		}
	}
	for _, cs := range newest.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			a.PendingReason = strings.TrimSuffix(w.Reason+": "+w.Message, ": ")
			return a
		}
	}
	return a
}

// podsOf lists a Job's Pods (from the cache, by indexPodsOfJob).
func (r *SyncJobReconciler) podsOf(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingFields{indexPodsOfJob: job.Name}); err != nil {
		return nil, fmt.Errorf("list Pods of Job %s: %w", job.Name, err)
	}
	return pods.Items, nil
}

// stuckPod returns the first container state that will not start by itself.
func stuckPod(pods []corev1.Pod) *corev1.ContainerStateWaiting {
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && stuckReason(w.Reason) {
				return w
			}
		}
	}
	return nil
}

// reported tells whether the runner itself recorded a run of this Job: the run ID of an
// in-cluster run is its Pod's name, "<job>-<suffix>" (the Pod may be gone: force-deleted),
// and a runner that got to the end leaves its summary as the termination message.
func reported(sj *syncv1.SyncJob, job *batchv1.Job, pods []corev1.Pod) bool {
	ours := func(id string) bool { return strings.HasPrefix(id, job.Name+"-") }
	if sj.Status.LastRun != nil && ours(sj.Status.LastRun.RunID) {
		return true
	}
	for _, h := range sj.Status.History {
		if ours(h.RunID) {
			return true
		}
	}
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && runnerSummary(t.Message) {
				return true
			}
		}
	}
	return false
}

// runnerSummary tells a termination message the runner wrote (runstatus.Summary: it starts
// with the run's phase) from the log tail the kubelet falls back to.
func runnerSummary(msg string) bool {
	for _, p := range []syncv1.RunPhase{syncv1.RunPhaseSucceeded, syncv1.RunPhasePartiallySucceeded, syncv1.RunPhaseFailed, syncv1.RunPhaseInterrupted} {
		if strings.HasPrefix(msg, string(p)+":") {
			return true
		}
	}
	return false
}

// failedRun builds the record of a run that died or could not start: the Job's name as
// run ID, its trigger, and the reason read from the Pods and the Job.
func failedRun(job *batchv1.Job, pods []corev1.Pod, stuck *corev1.ContainerStateWaiting, now time.Time) syncv1.RunRecord {
	rec := syncv1.RunRecord{
		RunID:          job.Name,
		Trigger:        triggerOf(job),
		Phase:          syncv1.RunPhaseFailed,
		CountsUnknown:  true, // the runner did not report: what it read and wrote is not known
		StartTime:      job.Status.StartTime,
		CompletionTime: &metav1.Time{Time: now},
	}
	if rec.StartTime == nil {
		rec.StartTime = &job.CreationTimestamp
	}
	switch {
	case stuck != nil:
		rec.Reason = stuck.Reason
		rec.Message = fmt.Sprintf("the runner could not start: %s", stuck.Message)
		return rec
	}
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			t := cs.State.Terminated
			if t == nil {
				continue
			}
			if t.Reason == "OOMKilled" {
				rec.Reason = runcontract.ReasonOOMKilled
				limit := ""
				if len(pods[i].Spec.Containers) > 0 {
					if m, ok := pods[i].Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; ok {
						limit = " of " + m.String()
					}
				}
				rec.Message = fmt.Sprintf("the runner Pod %s was killed for exceeding its memory limit%s", pods[i].Name, limit)
				return rec
			}
			if t.ExitCode != 0 {
				rec.Reason = runcontract.ReasonRunnerCrashed
				rec.Message = fmt.Sprintf("the runner Pod %s exited with code %d (%s) before reporting", pods[i].Name, t.ExitCode, t.Reason)
			}
		}
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobFailureTarget) && c.Status == corev1.ConditionTrue {
			if c.Reason == batchv1.JobReasonDeadlineExceeded {
				rec.Reason = runcontract.ReasonDeadlineExceeded
				rec.Message = fmt.Sprintf("the run exceeded activeDeadlineSeconds=%d: %s", ptr.Deref(job.Spec.ActiveDeadlineSeconds, 0), c.Message)
				return rec
			}
			if rec.Reason == "" {
				rec.Reason = c.Reason
				rec.Message = c.Message
			}
		}
	}
	if rec.Reason == "" {
		rec.Reason = runcontract.ReasonRunnerCrashed
		rec.Message = "the run's Job failed before the runner reported"
	}
	return rec
}

// triggerOf reads the run's trigger from its Pod template and its annotations
// (runcontract.JobTrigger: a Job made by hand from the CronJob is Manual).
func triggerOf(job *batchv1.Job) string {
	for _, c := range job.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == runcontract.EnvTrigger {
				return runcontract.JobTrigger(job.Annotations, e.Value)
			}
		}
	}
	return runcontract.JobTrigger(job.Annotations, "")
}

// runToSyncJob maps a Job or Pod of a run to its SyncJob, through the label the
// controller puts on every run.
func runToSyncJob(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[runcontract.LabelJob]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}
