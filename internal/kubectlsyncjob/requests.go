package kubectlsyncjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/jobstate"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Kind is an operator request the plugin makes.
type Kind string

// Request kinds.
const (
	KindRun      Kind = "run"
	KindReset    Kind = "reset"
	KindBackfill Kind = "backfill"
)

// Request is one operator request: the annotations it sets on the SyncJob.
type Request struct {
	Kind Kind
	// ResetTo is "beginning" (the default) or an RFC3339 time.
	ResetTo string
	// ClearFailedKeys also forgets the failed keys of a reset.
	ClearFailedKeys bool
	// From and To bound a backfill, RFC3339.
	From, To string
}

func (r Request) validate() error {
	switch r.Kind {
	case KindReset:
		if r.ResetTo != "" && r.ResetTo != "beginning" {
			if _, err := time.Parse(time.RFC3339Nano, r.ResetTo); err != nil {
				return fmt.Errorf("reset --to %q: neither \"beginning\" nor an RFC3339 time", r.ResetTo)
			}
		}
	case KindBackfill:
		f, err := time.Parse(time.RFC3339Nano, r.From)
		if err != nil {
			return fmt.Errorf("backfill --from %q: not an RFC3339 time", r.From)
		}
		t, err := time.Parse(time.RFC3339Nano, r.To)
		if err != nil {
			return fmt.Errorf("backfill --to %q: not an RFC3339 time", r.To)
		}
		if !f.Before(t) {
			return fmt.Errorf("backfill --from %s is not before --to %s", r.From, r.To)
		}
	}
	return nil
}

// Annotations are the annotations that make the request with token. A reset always sets
// reset-to and reset-failed-keys, so that a value left from an earlier request never
// applies to this one.
func (r Request) Annotations(token string) map[string]string {
	switch r.Kind {
	case KindReset:
		to := r.ResetTo
		if to == "" {
			to = "beginning"
		}
		return map[string]string{syncv1.ResetToAnnotation: to,
			syncv1.ResetFailedKeysAnnotation: fmt.Sprint(r.ClearFailedKeys),
			syncv1.ResetRequestedAnnotation:  token}
	case KindBackfill:
		return map[string]string{syncv1.BackfillFromAnnotation: r.From, syncv1.BackfillToAnnotation: r.To,
			syncv1.BackfillRequestedAnnotation: token}
	case KindPlan:
		return map[string]string{syncv1.PlanRequestedAnnotation: token}
	}
	return map[string]string{syncv1.RunRequestedAnnotation: token}
}

// NewToken is a fresh request token: the time to the nanosecond, never equal to an earlier
// one, so that the controller handles it exactly once.
func NewToken(now time.Time) string { return now.UTC().Format(time.RFC3339Nano) }

// Request sets the annotations of req on SyncJob name with a fresh token (a merge patch of
// metadata.annotations only) and returns the token.
func (p *Plugin) Request(ctx context.Context, name string, req Request) (string, error) {
	if err := req.validate(); err != nil {
		return "", err
	}
	token := NewToken(p.now())
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": req.Annotations(token)}})
	if err != nil {
		return "", err
	}
	sj := &syncv1.SyncJob{}
	sj.Namespace, sj.Name = p.Namespace, name
	if err := p.Client.Patch(ctx, sj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return "", fmt.Errorf("request %s of syncjob %s/%s: %w", req.Kind, p.Namespace, name, err)
	}
	return token, nil
}

// handled is the status field recording the last token of kind the controller acted on.
func handled(sj *syncv1.SyncJob, kind Kind) string {
	switch kind {
	case KindReset:
		return sj.Status.LastHandledResetRequest
	case KindBackfill:
		return sj.Status.LastHandledBackfillRequest
	case KindPlan:
		return sj.Status.LastHandledPlanRequest
	}
	return sj.Status.LastHandledRunRequest
}

// contractKind is kind's part of the requested Job's name.
func contractKind(kind Kind) runcontract.RequestKind {
	switch kind {
	case KindReset:
		return runcontract.KindReset
	case KindBackfill:
		return runcontract.KindBackfill
	case KindPlan:
		return runcontract.KindPlan
	}
	return runcontract.KindRun
}

// ofJob reports whether run ID id is a run of the Job jobName: the runner's run ID is its
// Pod's name "<job>-<suffix>", the controller's (a run that died) the Job's name.
func ofJob(id, jobName string) bool { return id == jobName || strings.HasPrefix(id, jobName+"-") }

// final reports whether phase is an end.
func final(phase syncv1.RunPhase) bool {
	return phase != "" && phase != syncv1.RunPhaseRunning
}

// PhaseExitCode is the exit code for a run that ended in phase.
func PhaseExitCode(phase syncv1.RunPhase) int {
	switch phase {
	case syncv1.RunPhaseSucceeded:
		return ExitOK
	case syncv1.RunPhasePartiallySucceeded:
		return ExitPartial
	}
	return ExitFailed
}

// noRecordGrace is how long a wait still expects a run record after the run's Job ended.
const noRecordGrace = 15 * time.Second

// Wait follows the request of kind with token on SyncJob name until the controller handled
// it and its run is over, then prints the run record (a reset: the checkpoint cursor) and
// returns the exit code of the outcome. ctx bounds the wait.
func (p *Plugin) Wait(ctx context.Context, name string, kind Kind, token string) (int, error) {
	jobName := runcontract.RequestedJobName(name, contractKind(kind), token)
	var jobEnded time.Time
	for {
		sj := &syncv1.SyncJob{}
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, sj); err != nil {
			return p.waitErr(ctx, name, kind, token, err)
		}
		if handled(sj, kind) == token {
			job := &batchv1.Job{}
			err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: jobName}, job)
			if err != nil && !apierrors.IsNotFound(err) {
				return p.waitErr(ctx, name, kind, token, err)
			}
			done, failed := false, false
			if err == nil {
				done, failed = jobstate.Finished(job)
			}
			if kind == KindReset {
				if code, over := p.resetOutcome(sj, jobName, err == nil, done, failed); over {
					return code, nil
				}
				if err != nil && jobEnded.IsZero() {
					jobEnded = p.now()
				}
				if !jobEnded.IsZero() && p.now().Sub(jobEnded) > noRecordGrace {
					fmt.Fprintf(p.Out, "reset request %q was handled; its Job %s is gone (kubectl get events -n %s --field-selector involvedObject.name=%s)\n",
						token, jobName, p.Namespace, name)
					return ExitOK, nil
				}
			} else {
				if rec := recordOf(sj, jobName); rec != nil {
					if err := p.printRecord(rec); err != nil {
						return ExitFailed, err
					}
					return PhaseExitCode(rec.Phase), nil
				}
				if sum := summaryOf(sj, jobName); sum != nil {
					fmt.Fprintf(p.Out, "run %s %s: %s\n", sum.RunID, sum.Phase, sum.Summary)
					return PhaseExitCode(sum.Phase), nil
				}
				if done && jobEnded.IsZero() {
					jobEnded = p.now()
				}
				if !jobEnded.IsZero() && p.now().Sub(jobEnded) > noRecordGrace {
					if failed {
						return ExitFailed, fmt.Errorf("%s request %q: Job %s failed and no run record names it", kind, token, jobName)
					}
					fmt.Fprintf(p.Out, "%s request %q: Job %s finished without a run of its own (another run held the run lock)\n", kind, token, jobName)
					return ExitOK, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return p.waitErr(ctx, name, kind, token, ctx.Err())
		case <-time.After(p.poll()):
		}
	}
}

func (p *Plugin) waitErr(ctx context.Context, name string, kind Kind, token string, err error) (int, error) {
	if ctx.Err() != nil {
		return ExitFailed, fmt.Errorf("%s request %q of syncjob %s/%s: gave up waiting (--timeout): %w; see kubectl syncjob status %s -n %s",
			kind, token, p.Namespace, name, ctx.Err(), name, p.Namespace)
	}
	return ExitFailed, fmt.Errorf("%s request %q of syncjob %s/%s: %w", kind, token, p.Namespace, name, err)
}

// resetOutcome says whether the reset Job ended, and how.
func (p *Plugin) resetOutcome(sj *syncv1.SyncJob, jobName string, exists, done, failed bool) (int, bool) {
	switch {
	case exists && done && failed:
		fmt.Fprintf(p.Out, "reset Job %s failed: the checkpoint was not reset (kubectl get events -n %s --field-selector involvedObject.name=%s)\n",
			jobName, sj.Namespace, sj.Name)
		return ExitFailed, true
	case exists && done:
		where := "the beginning"
		if c := sj.Status.Cursor; c != nil {
			where = c.UpdatedAt
			if c.ID != "" {
				where += " / " + c.ID
			}
		}
		fmt.Fprintf(p.Out, "reset Job %s done: the checkpoint starts at %s\n", jobName, where)
		return ExitOK, true
	}
	return 0, false
}

// recordOf is the SyncJob's last run when it is a final run of Job jobName.
func recordOf(sj *syncv1.SyncJob, jobName string) *syncv1.RunRecord {
	if r := sj.Status.LastRun; r != nil && ofJob(r.RunID, jobName) && final(r.Phase) {
		return r
	}
	return nil
}

// summaryOf is the history line of a final run of Job jobName (a later run replaced the
// last run).
func summaryOf(sj *syncv1.SyncJob, jobName string) *syncv1.RunSummary {
	for i := range sj.Status.History {
		if h := &sj.Status.History[i]; ofJob(h.RunID, jobName) && final(h.Phase) {
			return h
		}
	}
	return nil
}

// printRecord prints the run record as indented JSON.
func (p *Plugin) printRecord(rec *syncv1.RunRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return errors.New("print run record: " + err.Error())
	}
	_, err = fmt.Fprintln(p.Out, string(b))
	return err
}
