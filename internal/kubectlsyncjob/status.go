package kubectlsyncjob

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/jobstate"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/schedule"
)

// ActiveRun is a run under way.
type ActiveRun struct {
	// Name of its Job.
	Name string
	// Trigger: Scheduled, Manual, Backfill, Reset.
	Trigger string
	// Started is when its Job started.
	Started time.Time
	// PodPhase and Reason say where its Pod is (Pending: Unschedulable, ...).
	PodPhase, Reason string
}

// Facts are what status knows besides the SyncJob: the time, the active run and the next
// scheduled run (from the status when the controller records them, else from the Jobs and
// the schedule).
type Facts struct {
	Now time.Time
	// Active is the run under way, nil when none.
	Active *ActiveRun
	// NextRun is the next scheduled run; zero means: computed from spec.schedule.
	NextRun time.Time
}

// Pending is an operator request whose token the controller has not acted on yet.
type Pending struct{ Kind, Token string }

// PendingRequests are the request annotations whose tokens differ from the
// status.lastHandled*Request the controller recorded.
func PendingRequests(sj *syncv1.SyncJob) []Pending {
	var out []Pending
	for _, r := range []struct {
		kind, ann, handled string
	}{
		{"run", syncv1.RunRequestedAnnotation, sj.Status.LastHandledRunRequest},
		{"reset", syncv1.ResetRequestedAnnotation, sj.Status.LastHandledResetRequest},
		{"backfill", syncv1.BackfillRequestedAnnotation, sj.Status.LastHandledBackfillRequest},
	} {
		if t := sj.Annotations[r.ann]; t != "" && t != r.handled {
			out = append(out, Pending{Kind: r.kind, Token: t})
		}
	}
	return out
}

// Action is the suggested next step: what and why in words, and the command.
type Action struct {
	Say     string
	Command string
}

// Suggest decides the next step for the SyncJob's state (first match): the spec is
// invalid; a run is under way; no run yet; the last run failed; records failed; the sink
// drifted; the mapping changed; the SyncJob is stale; nothing to do.
func Suggest(sj *syncv1.SyncJob, f Facts) Action {
	name, ns := sj.Name, sj.Namespace
	k := func(format string, a ...any) string {
		return fmt.Sprintf("kubectl syncjob "+format, a...) + " -n " + ns
	}
	if c := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return Action{Say: "the spec cannot be acted on: " + c.Message + "; fix it", Command: fmt.Sprintf("kubectl edit syncjob %s -n %s", name, ns)}
	}
	if f.Active != nil {
		return Action{Say: "a run is under way; follow it", Command: k("logs %s", name)}
	}
	last := sj.Status.LastRun
	if last == nil {
		return Action{Say: "no run yet; start one now instead of waiting for the schedule", Command: k("run %s --wait", name)}
	}
	switch last.Phase {
	case syncv1.RunPhaseFailed, syncv1.RunPhaseInterrupted:
		why := last.Reason
		if last.Message != "" {
			why += ": " + last.Message
		}
		return Action{Say: "the last run " + strings.ToLower(string(last.Phase)) + " (" + why + "); read its log, fix the cause, then run again (" + k("run %s --wait", name) + ")",
			Command: k("logs %s", name)}
	case syncv1.RunPhasePartiallySucceeded:
		for _, g := range last.ErrorSummary {
			if len(g.SampleIDs) > 0 {
				return Action{Say: fmt.Sprintf("%d records failed (%s); they are retried first on the next run once fixed; ask why one failed", last.Failed, g.Reason),
					Command: k("explain %s %s", name, g.SampleIDs[0])}
			}
		}
		return Action{Say: fmt.Sprintf("%d records failed; read the run's log for their ids", last.Failed), Command: k("logs %s", name)}
	}
	if rc := last.Reconciliation; rc != nil && rc.Drift {
		if len(rc.Mismatches) > 0 {
			return Action{Say: fmt.Sprintf("the sink differs from the source (%d sampled records mismatched); ask why about one", rc.Mismatched),
				Command: k("explain %s %s", name, rc.Mismatches[0].Key)}
		}
		if len(rc.MismatchedIDs) > 0 {
			return Action{Say: fmt.Sprintf("the sink differs from the source (%d sampled records mismatched); ask why about one", rc.Mismatched),
				Command: k("explain %s %s", name, rc.MismatchedIDs[0])}
		}
		if rc.WindowStart != "" && rc.WindowEnd != "" {
			return Action{Say: fmt.Sprintf("the sink's count differs from the source's in the checked window (%d vs %d); re-sync the window", rc.SinkCount, rc.SourceCount),
				Command: k("backfill %s --from %s --to %s --wait", name, rc.WindowStart, rc.WindowEnd)}
		}
		return Action{Say: "the sink differs from the source; re-sync everything", Command: k("reset %s --to beginning --wait", name)}
	}
	if mc := last.MappingChange; mc != nil && mc.Resync == "None" {
		return Action{Say: "the mapping changed and records synced before carry the old one; re-sync them", Command: k("reset %s --to beginning --wait", name)}
	}
	if staleSince, stale := staleness(sj, f.Now); stale {
		return Action{Say: "no successful run since " + staleSince + ": scheduled runs are not happening (suspended, or their Pods cannot start); run one and watch it",
			Command: k("run %s --wait", name)}
	}
	return Action{Say: "nothing to do: the last run succeeded"}
}

// staleness reports whether the last success is older than two schedule intervals.
func staleness(sj *syncv1.SyncJob, now time.Time) (string, bool) {
	s, err := schedule.Parse(sj.Spec.Schedule, deref(sj.Spec.TimeZone))
	if err != nil || sj.Status.LastSuccessfulRunTime == nil {
		return "", false
	}
	last := sj.Status.LastSuccessfulRunTime.Time
	return last.UTC().Format(time.RFC3339), !now.Before(s.StaleAfter(last))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ago says how long before now t was, rounded.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + round(-d)
	}
	return round(d) + " ago"
}

func round(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		if m := int(d % time.Hour / time.Minute); m != 0 {
			return fmt.Sprintf("%dh%dm", int(d/time.Hour), m)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	d = d.Round(time.Hour)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

func stamp(now time.Time, t *metav1.Time) string {
	if t == nil {
		return "unknown time"
	}
	return t.UTC().Format(time.RFC3339) + " (" + ago(now, t.Time) + ")"
}

// StatusText answers the three questions about sj in plain words: did it run, how far did
// it get, what next (with the suggested command).
func StatusText(sj *syncv1.SyncJob, f Facts) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	ready := "unknown (the controller has not reported yet)"
	if c := meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReady); c != nil {
		ready = fmt.Sprintf("%s (%s: %s)", c.Status, c.Reason, c.Message)
	}
	w("SyncJob %s/%s — Ready %s", sj.Namespace, sj.Name, ready)

	w("")
	w("Did it run?")
	last := sj.Status.LastRun
	if last == nil {
		w("  no run yet")
	} else {
		line := fmt.Sprintf("  last run %s: %s, trigger %s, started %s", last.RunID, last.Phase, last.Trigger, stamp(f.Now, last.StartTime))
		if last.StartTime != nil && last.CompletionTime != nil {
			line += fmt.Sprintf(", took %s", last.CompletionTime.Sub(last.StartTime.Time).Round(time.Second))
		}
		w("%s", line)
		if last.Reason != "" || last.Message != "" {
			w("    why: %s %s", last.Reason, last.Message)
		}
	}
	if t := sj.Status.LastSuccessfulRunTime; t != nil {
		w("  last success %s", stamp(f.Now, t))
	} else if last != nil {
		w("  no successful run yet")
	}
	if a := f.Active; a != nil {
		line := fmt.Sprintf("  running now: %s (%s)", a.Name, a.Trigger)
		if !a.Started.IsZero() {
			line += ", started " + ago(f.Now, a.Started)
		}
		if a.PodPhase != "" {
			line += ", Pod " + a.PodPhase
		}
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		w("%s", line)
	} else {
		w("  running now: nothing")
	}

	w("")
	w("How far did it get?")
	if c := sj.Status.Cursor; c != nil {
		line := "  cursor " + c.UpdatedAt
		if c.ID != "" {
			line += " / id " + c.ID
		}
		if t, err := time.Parse(time.RFC3339Nano, c.UpdatedAt); err == nil {
			line += fmt.Sprintf(": synced every record updated up to %s, %s behind now", t.UTC().Format(time.RFC3339), round(f.Now.Sub(t)))
		}
		w("%s", line)
	} else {
		w("  no cursor stored: the next run starts at the beginning")
	}
	if last != nil {
		if last.CountsUnknown {
			w("  last run: counts unknown (the runner stopped before reporting them)")
		} else {
			w("  last run: read %d, upserted %d, unchanged %d, skipped %d, failed %d, deleted %d",
				last.Read, last.Upserted, last.Unchanged, last.Skipped, last.Failed, last.Deleted)
		}
		for _, g := range last.ErrorSummary {
			w("    %d × %s (ids %s)", g.Count, g.Reason, strings.Join(g.SampleIDs, ", "))
		}
		if rc := last.Reconciliation; rc != nil && rc.Drift {
			w("  drift: source %d, sink %d, %d of %d sampled records differ", rc.SourceCount, rc.SinkCount, rc.Mismatched, rc.Sampled)
		}
		for _, warn := range last.Warnings {
			w("  warning: %s", warn)
		}
	}

	w("")
	w("What next?")
	next := f.NextRun
	if next.IsZero() {
		if s, err := schedule.Parse(sj.Spec.Schedule, deref(sj.Spec.TimeZone)); err == nil {
			next = s.Next(f.Now)
		}
	}
	switch {
	case sj.Spec.Suspend != nil && *sj.Spec.Suspend:
		w("  suspended: no scheduled runs (schedule %q); requested runs still happen", sj.Spec.Schedule)
	case next.IsZero():
		w("  next scheduled run: unknown (schedule %q)", sj.Spec.Schedule)
	default:
		w("  next scheduled run %s (%s, schedule %q)", next.UTC().Format(time.RFC3339), ago(f.Now, next), sj.Spec.Schedule)
	}
	for _, p := range PendingRequests(sj) {
		w("  %s request %q is waiting for the controller", p.Kind, p.Token)
	}
	a := Suggest(sj, f)
	w("  suggested: %s", a.Say)
	if a.Command != "" {
		w("    %s", a.Command)
	}
	return b.String()
}

// Status prints StatusText for SyncJob name. The active run and the next scheduled run
// are read from status.activeRun and status.nextScheduledTime when the controller records
// them; otherwise the active run is the SyncJob's newest unfinished Job and the next run is
// computed from the schedule.
func (p *Plugin) Status(ctx context.Context, name string) error {
	sj, err := p.getSyncJob(ctx, name)
	if err != nil {
		return err
	}
	f := Facts{Now: p.now()}
	f.Active, f.NextRun = fromStatus(&sj.Status)
	if f.Active == nil {
		jobs, err := p.jobsOf(ctx, name)
		if err != nil {
			return err
		}
		for i := range jobs {
			if done, _ := jobstate.Finished(&jobs[i]); !done && jobs[i].DeletionTimestamp.IsZero() {
				j := &jobs[i]
				f.Active = &ActiveRun{Name: j.Name, Trigger: triggerOf(j)}
				if j.Status.StartTime != nil {
					f.Active.Started = j.Status.StartTime.Time
				}
				break
			}
		}
	}
	if a, last := f.Active, sj.Status.LastRun; a != nil && last != nil && final(last.Phase) && ofJob(last.RunID, a.Name) {
		f.Active = nil // the runner reported the end before the controller's status caught up
	}
	_, err = fmt.Fprint(p.Out, StatusText(sj, f))
	return err
}

// getSyncJob reads the SyncJob.
func (p *Plugin) getSyncJob(ctx context.Context, name string) (*syncv1.SyncJob, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(syncv1.GroupVersion.WithKind("SyncJob"))
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, u); err != nil {
		return nil, fmt.Errorf("get syncjob %s/%s: %w", p.Namespace, name, err)
	}
	sj := &syncv1.SyncJob{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, sj); err != nil {
		return nil, fmt.Errorf("read syncjob %s/%s: %w", p.Namespace, name, err)
	}
	return sj, nil
}

// fromStatus reads status.activeRun and status.nextScheduledTime, the controller's
// answers to "running now" and "next run"; nil and the zero time when it recorded none.
func fromStatus(st *syncv1.SyncJobStatus) (*ActiveRun, time.Time) {
	var next time.Time
	if st.NextScheduledTime != nil {
		next = st.NextScheduledTime.Time
	}
	ar := st.ActiveRun
	if ar == nil {
		return nil, next
	}
	a := &ActiveRun{Name: ar.Name, Trigger: ar.Trigger, PodPhase: ar.PodPhase, Reason: ar.PendingReason}
	if ar.StartTime != nil {
		a.Started = ar.StartTime.Time
	}
	return a, next
}

// jobsOf lists the SyncJob's run Jobs, newest first.
func (p *Plugin) jobsOf(ctx context.Context, name string) ([]batchv1.Job, error) {
	list := &batchv1.JobList{}
	if err := p.Client.List(ctx, list, client.InNamespace(p.Namespace), client.MatchingLabels{runcontract.LabelJob: name}); err != nil {
		return nil, fmt.Errorf("list Jobs of syncjob %s/%s: %w", p.Namespace, name, err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		return list.Items[j].CreationTimestamp.Before(&list.Items[i].CreationTimestamp)
	})
	return list.Items, nil
}

// triggerOf is a run Job's trigger (runcontract.JobTrigger: its runner environment, or
// Manual for a Job made by hand from the CronJob), "unknown" when it names none.
func triggerOf(job *batchv1.Job) string {
	template := ""
	for _, c := range job.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == runcontract.EnvTrigger {
				template = e.Value
			}
		}
	}
	if t := runcontract.JobTrigger(job.Annotations, template); t != "" {
		return t
	}
	return "unknown"
}
