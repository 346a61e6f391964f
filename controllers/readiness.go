package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// condition is the status, reason and message of one condition.
type condition struct {
	status  metav1.ConditionStatus
	reason  string
	message string
}

// readinessInput is everything the conditions depend on.
type readinessInput struct {
	// invalidSpec is why the spec cannot be acted on; nil if it can.
	invalidSpec error
	// refused is why the controller will not act on the SyncJob for the cluster's safety
	// (NameConflict, RunnerImageNotAllowed): the reason and message of Stalled; nil if none.
	refused *condition
	// err ended the reconcile early; nil if every step ran.
	err error
	// pending explains an operator request that waits; "" if none.
	pending string
	// lastRun is the runner's record of the last run; nil before the first.
	lastRun *syncv1.RunRecord
	// lastSuccess is when a run last succeeded; nil if none did.
	lastSuccess *metav1.Time
	// freshness says when the SyncJob turns stale.
	freshness freshness
	// name and namespace of the SyncJob, for the commands in messages.
	name, namespace string
	// preflight is the last preflight's outcome; nil if none was started.
	preflight *syncv1.PreflightStatus
}

// verdict is the controller's conditions and when they change by themselves.
type verdict struct {
	// ready is the Ready condition.
	ready condition
	// reconciling is the Reconciling condition; nil removes it.
	reconciling *condition
	// stalled is the Stalled condition; nil removes it.
	stalled *condition
	// drifted is the Drifted condition; nil leaves it as it is (an invalid spec or a
	// failed reconcile says nothing about drift).
	drifted *condition
	// requeueAfter is when Ready turns stale; zero if it does not.
	requeueAfter time.Duration
	// mappingChanged is the MappingChanged condition; nil removes it, unless
	// keepMappingChanged (the last run said nothing about the mapping) leaves it as it is.
	mappingChanged     *condition
	keepMappingChanged bool
	// preflight is the Preflight condition; nil leaves it as it is.
	preflight *condition
}

// readiness is the policy that decides Ready, Reconciling, Stalled and Drifted (drift, from
// the last run's drift check, whenever the reconcile got that far), in this order:
//   - an invalid spec: Stalled and Ready=False with reason InvalidSpec;
//   - a SyncJob refused for the cluster's safety: Stalled and Ready=False with its reason
//     (NameConflict, RunnerImageNotAllowed);
//   - a reconcile that failed: Reconciling and Ready=False with reason Progressing;
//   - otherwise Ready follows the last run (RunFailed for a failed or interrupted run,
//     PartiallyFailed, DriftDetected, Succeeded), turned False with reason Stale once two
//     scheduled runs were missed; Reconciling with reason RequestPending while an
//     operator request waits;
//   - a failed preflight (status.preflight) makes Ready=False with reason PreflightFailed
//     until a run finishes after it.
func readiness(in readinessInput) verdict {
	if in.invalidSpec != nil {
		c := condition{metav1.ConditionFalse, syncv1.ReasonInvalidSpec, in.invalidSpec.Error()}
		stalled := condition{metav1.ConditionTrue, syncv1.ReasonInvalidSpec, in.invalidSpec.Error()}
		return verdict{ready: c, stalled: &stalled, keepMappingChanged: true}
	}
	if r := in.refused; r != nil {
		c := condition{metav1.ConditionFalse, r.reason, r.message}
		stalled := condition{metav1.ConditionTrue, r.reason, r.message}
		return verdict{ready: c, stalled: &stalled, keepMappingChanged: true}
	}
	if in.err != nil {
		c := condition{metav1.ConditionFalse, syncv1.ReasonProgressing, in.err.Error()}
		reconciling := condition{metav1.ConditionTrue, syncv1.ReasonProgressing, in.err.Error()}
		return verdict{ready: c, reconciling: &reconciling, keepMappingChanged: true}
	}
	var v verdict
	if in.pending != "" {
		v.reconciling = &condition{metav1.ConditionTrue, ReasonRequestPending, in.pending}
	}
	d := drift(in.lastRun)
	v.drifted = &d
	v.ready = withWarnings(lastRunReadiness(in.lastRun), in.lastRun)
	v.mappingChanged, v.keepMappingChanged = mappingChanged(in.lastRun, in.name, in.namespace)
	v.preflight = preflightCondition(in.preflight)
	if preflightBlocks(in.preflight, in.lastRun) {
		v.ready = condition{metav1.ConditionFalse, syncv1.ReasonPreflightFailed, "preflight failed: " + in.preflight.Message}
		return v
	}
	if f := in.freshness; v.ready.status == metav1.ConditionTrue && f.tracked {
		if f.stale() {
			v.ready = condition{metav1.ConditionFalse, syncv1.ReasonStale, staleMessage(in.lastSuccess, f.staleAt)}
		} else {
			v.requeueAfter = f.remaining
		}
	}
	return v
}

// lastRunReadiness turns the last run into the Ready condition.
func lastRunReadiness(last *syncv1.RunRecord) condition {
	if last == nil {
		return condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, "SyncJob is set up; no run yet"}
	}
	switch last.Phase {
	case syncv1.RunPhaseFailed, syncv1.RunPhaseInterrupted:
		msg := fmt.Sprintf("run %s %s", last.RunID, last.Phase)
		if last.Reason != "" {
			msg += ": " + last.Reason
		}
		if last.Message != "" {
			msg += ": " + last.Message
		}
		return condition{metav1.ConditionFalse, syncv1.ReasonRunFailed, msg}
	case syncv1.RunPhasePartiallySucceeded:
		return condition{metav1.ConditionTrue, syncv1.ReasonPartiallyFailed,
			fmt.Sprintf("run %s finished with %d failed records", last.RunID, last.Failed)}
	}
	if rec := last.Reconciliation; rec != nil && rec.Drift {
		return condition{metav1.ConditionFalse, syncv1.ReasonDriftDetected,
			fmt.Sprintf("run %s: drift check found source %d vs sink %d records in the window, %d mismatched",
				last.RunID, rec.SourceCount, rec.SinkCount, rec.Mismatched)}
	}
	return condition{metav1.ConditionTrue, syncv1.ReasonSucceeded, fmt.Sprintf("run %s succeeded", last.RunID)}
}

// maxDriftKeys bounds the mismatched keys named in the Drifted condition's message.
const maxDriftKeys = 3

// drift turns the last run's drift check into the Drifted condition: True with reason
// DriftDetected and a message naming the counts and the first mismatched keys and fields
// when it found a difference; False with NoDrift when it found none; False with
// DriftNotChecked when the last run did not check (or there is no run yet).
func drift(last *syncv1.RunRecord) condition {
	if last == nil || last.Reconciliation == nil {
		msg := "no run yet"
		if last != nil {
			msg = fmt.Sprintf("run %s did not check for drift", last.RunID)
		}
		return condition{metav1.ConditionFalse, syncv1.ReasonDriftNotChecked, msg}
	}
	rc := last.Reconciliation
	window := fmt.Sprintf("[%s, %s]", rc.WindowStart, rc.WindowEnd)
	counts := fmt.Sprintf("source %d vs sink %d records in the window %s", rc.SourceCount, rc.SinkCount, window)
	if rc.Uncounted {
		counts = fmt.Sprintf("no counts in the window %s", window)
	}
	if !rc.Drift {
		return condition{metav1.ConditionFalse, syncv1.ReasonNoDrift,
			fmt.Sprintf("run %s: %s, %d sampled records match", last.RunID, counts, rc.Sampled)}
	}
	msg := fmt.Sprintf("run %s: %s, %d of %d sampled records mismatched", last.RunID, counts, rc.Mismatched, rc.Sampled)
	var keys []string
	for _, m := range rc.Mismatches {
		if len(keys) == maxDriftKeys {
			keys = append(keys, "...")
			break
		}
		if m.Missing {
			keys = append(keys, m.Key+" (missing)")
		} else {
			keys = append(keys, fmt.Sprintf("%s (%s)", m.Key, strings.Join(m.Fields, ", ")))
		}
	}
	if len(keys) > 0 {
		msg += ": " + strings.Join(keys, "; ")
	}
	return condition{metav1.ConditionTrue, syncv1.ReasonDriftDetected, msg}
}

// withWarnings adds the last run's warnings (for example offset pagination, which can miss
// records) to the Ready message; they never change Ready's status or reason.
func withWarnings(c condition, last *syncv1.RunRecord) condition {
	if last == nil || len(last.Warnings) == 0 {
		return c
	}
	c.message += "; warning: " + strings.Join(last.Warnings, "; warning: ")
	return c
}

// mappingChanged decides the MappingChanged condition from the last run's mappingChange:
// True while the sink holds records written under an earlier spec.key/spec.mapping
// (reason ResyncNeeded, with the reset request that re-syncs them, or ResyncInProgress);
// removed once the run record has no change or a completed re-sync. A failed or
// interrupted run without a mappingChange may have stopped before it compared the
// mappings (or died): keep reports that the condition stays as it is.
func mappingChanged(last *syncv1.RunRecord, name, namespace string) (c *condition, keep bool) {
	if last == nil {
		return nil, true
	}
	mc := last.MappingChange
	if mc == nil {
		failed := last.Phase == syncv1.RunPhaseFailed || last.Phase == syncv1.RunPhaseInterrupted
		return nil, failed
	}
	head := fmt.Sprintf("spec.key/spec.mapping changed (fingerprint %s, previously %s)", mc.Current, mc.Previous)
	switch mc.Resync {
	case "Completed":
		return nil, false
	case "InProgress":
		return &condition{metav1.ConditionTrue, syncv1.ReasonResyncInProgress,
			head + fmt.Sprintf(": run %s is re-syncing every record under the current mapping; records not re-read yet carry the previous one", last.RunID)}, false
	}
	return &condition{metav1.ConditionTrue, syncv1.ReasonResyncNeeded, head + fmt.Sprintf(
		": records synced before still carry the previous mapping; re-sync them all with "+
			"`kubectl annotate syncjob -n %s %s %s=beginning %s=$(date +%%s) --overwrite`, or set spec.onMappingChange: Backfill",
		namespace, name, syncv1.ResetToAnnotation, syncv1.ResetRequestedAnnotation)}, false
}

// freshness is when a SyncJob turns stale.
type freshness struct {
	// tracked is false when the SyncJob is never stale (suspended, or no valid schedule).
	tracked bool
	// staleAt is the time from which it is stale.
	staleAt time.Time
	// remaining is how long until staleAt; zero or less when it is stale.
	remaining time.Duration
}

// stale reports whether the SyncJob is stale now.
func (f freshness) stale() bool { return f.tracked && f.remaining <= 0 }

// staleness decides whether a SyncJob has missed two scheduled runs since its last
// success (or, without one, since it was created), by the clock clk. Suspended SyncJobs
// are never stale.
func staleness(sj *syncv1.SyncJob, clk clock.PassiveClock) freshness {
	if sj.Spec.Suspend != nil && *sj.Spec.Suspend {
		return freshness{}
	}
	sched, err := parseSchedule(sj)
	if err != nil {
		return freshness{}
	}
	base := sj.CreationTimestamp.Time
	if t := sj.Status.LastSuccessfulRunTime; t != nil {
		base = t.Time
	}
	at := sched.StaleAfter(base)
	return freshness{tracked: true, staleAt: at, remaining: at.Sub(clk.Now())}
}

// staleMessage says since when the SyncJob has not succeeded.
func staleMessage(lastSuccess *metav1.Time, staleAt time.Time) string {
	if lastSuccess != nil {
		return fmt.Sprintf("no successful run since %s: two scheduled runs were missed (stale since %s)",
			lastSuccess.UTC().Format(time.RFC3339), staleAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("no successful run since the SyncJob was created: two scheduled runs were missed (stale since %s)",
		staleAt.UTC().Format(time.RFC3339))
}

// preflightBlocks reports whether a failed preflight decides Ready: it does until a run
// finishes after it (that run's outcome is newer evidence).
func preflightBlocks(pf *syncv1.PreflightStatus, last *syncv1.RunRecord) bool {
	if pf == nil || pf.Result != syncv1.PreflightFailed {
		return false
	}
	if last == nil || last.CompletionTime == nil || pf.Time == nil {
		return true
	}
	return !last.CompletionTime.After(pf.Time.Time)
}
