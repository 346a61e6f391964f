// Package explain answers "why is record X (not) in the sink?" for one SyncJob: Gather
// collects the evidence (the source's record and its mapping now, the checkpoint, the
// durable record log, the sink's stored record), Decide turns it into one verdict and
// the next action as a command, Render prints both. Decide is a pure function of the
// Evidence; Gather only reads, through the connector contracts and a checkpoint reader,
// so the same core serves local mode (a state directory) and a cluster (the checkpoint
// ConfigMap).
package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// Verdict is the answer in one word.
type Verdict string

// Verdicts.
const (
	// Synced: the sink holds the source's version with equal values.
	Synced Verdict = "Synced"
	// NotYetSynced: no run has read the record's version yet (the cursor has not passed it
	// by more than the safety gap); the next run will.
	NotYetSynced Verdict = "NotYetSynced"
	// Failed: the record fails (now, or in the run that last read it) and waits on the
	// failedKeys retry list.
	Failed Verdict = "Failed"
	// MissedLateCommit: the cursor passed the record by more than the safety gap, yet the
	// sink does not hold its version: it was committed in the source after a run had
	// already read past its updatedAt. Only a backfill reads it again.
	MissedLateCommit Verdict = "MissedLateCommit"
	// Different: the sink holds the record with other values (edited in the destination,
	// or a newer version refused as stale).
	Different Verdict = "Different"
	// NotInSource: the source has no record with this id (never existed, or hard-deleted).
	NotInSource Verdict = "NotInSource"
	// DeletedInSource: the source marks the record deleted (spec.deletes.sourceField).
	DeletedInSource Verdict = "DeletedInSource"
	// Unknown: the source cannot be asked by id and nothing else decides.
	Unknown Verdict = "Unknown"
)

// Evidence is everything Decide needs, gathered by Gather (or built by hand in tests).
type Evidence struct {
	// Job and Namespace name the SyncJob ("" namespace: the current one).
	Job, Namespace string
	// ID is the source id asked about.
	ID string
	// Now is when the evidence was gathered.
	Now time.Time
	// Schedule is spec.schedule; NextRun the next scheduled run after Now (zero: unknown).
	Schedule string
	NextRun  time.Time
	// DeletesMode is spec.deletes.mode (Ignore, SoftDelete, Delete).
	DeletesMode string
	// Local, when set, makes the next actions local `runner` commands.
	Local *Local

	Source     SourceEvidence
	Checkpoint CheckpointEvidence
	Log        LogEvidence
	Sink       SinkEvidence
}

// Local names the job file and state directory of local mode.
type Local struct {
	JobFile, StateDir string
}

// SourceEvidence is what the source says about the record now.
type SourceEvidence struct {
	// Checked: the source was asked by id (it is a connector.Fetcher that can fetch).
	Checked bool
	// Err is why asking failed or was impossible.
	Err string
	// Found: the source has the record.
	Found bool
	// UpdatedAt of the record.
	UpdatedAt time.Time
	// Key it maps to ("" when the mapping failed before the key).
	Key string
	// Deleted: the record carries the source's soft-delete marker.
	Deleted bool
	// MapError is the record error mapping it now gives; nil when it maps.
	MapError *RecordError
	// Values are the mapped values by sink field.
	Values map[string]any
}

// RecordError is a record error's parts (connector.RecordError without its id).
type RecordError struct {
	Field, Reason, Detail string
}

// CheckpointEvidence is what the checkpoint says.
type CheckpointEvidence struct {
	// Cursor is the stored cursor; nil: the beginning.
	Cursor *cursor.Cursor
	// SafetyGap the next run rewinds by.
	SafetyGap time.Duration
	// Passed: the cursor is at or past the record's position; Rewound: so is the cursor
	// minus the safety gap (the next run will not read it again).
	Passed, Rewound bool
	// Lead is how far the cursor's time is past the record's updatedAt.
	Lead time.Duration
	// FailedKey: the id is on the failedKeys retry list.
	FailedKey bool
	// CoveredBy is the most recent run whose cursor range covered the record's position.
	CoveredBy *runcontract.RunRange
}

// LogEvidence is what the record log says about the id.
type LogEvidence struct {
	// Err is why the log could not be read.
	Err string
	// Failure is the most recent failure of the id; Stale the most recent stale skip;
	// Deleted the most recent deletion.
	Failure, Stale, Deleted *runcontract.RecordEvent
	// Dropped counts entries the bounded log let go: an old failure may be among them.
	Dropped int64
}

// SinkEvidence is what the sink holds for the record's key.
type SinkEvidence struct {
	// Checked: the sink was asked (it is a connector.KeyReader).
	Checked bool
	// Err is why asking failed or was impossible.
	Err string
	// Key asked for.
	Key string
	// Found: the sink holds the key.
	Found bool
	// SourceUpdatedAt stored with it.
	SourceUpdatedAt time.Time
	// Diffs are the mapped fields whose stored value differs from the source's mapped one.
	Diffs []FieldDiff
}

// FieldDiff is one field whose stored value differs.
type FieldDiff struct {
	Field      string
	Want, Have any
}

// Result is the verdict, its line, the evidence lines and the next action.
type Result struct {
	Verdict Verdict
	// Line is the one-line answer.
	Line string
	// Next are the next actions, as commands (or a short sentence when there is none).
	Next []string
}

const rfc = time.RFC3339Nano

// Decide turns the evidence into a verdict and the next action.
func Decide(ev Evidence) Result {
	src := ev.Source
	switch {
	case src.Checked && !src.Found:
		return notInSource(ev)
	case src.Checked && src.MapError != nil:
		e := src.MapError
		return Result{Verdict: Failed,
			Line: fmt.Sprintf("%s fails to map: %s%s; %s", ev.ID, fieldOf(e.Field), e.Reason, retryText(ev)),
			Next: []string{"fix the source value or the mapping, then: " + runCmd(ev)}}
	case ev.Checkpoint.FailedKey:
		line := fmt.Sprintf("%s failed and is on the failedKeys retry list", ev.ID)
		if f := ev.Log.Failure; f != nil {
			line = fmt.Sprintf("%s failed in run %s at %s: %s%s; %s", ev.ID, f.RunID, f.Time.UTC().Format(rfc), fieldOf(f.Field), f.Reason, retryText(ev))
		}
		return Result{Verdict: Failed, Line: line,
			Next: []string{"fix the cause (the source value, the mapping or the sink's rule), then: " + runCmd(ev)}}
	case !src.Checked:
		return unknown(ev)
	case src.Deleted:
		return deletedInSource(ev)
	}
	snk := ev.Sink
	if snk.Found && snk.SourceUpdatedAt.IsZero() && len(snk.Diffs) > 0 && !ev.Checkpoint.Rewound {
		return notYetSynced(ev) // no stored version to compare: the next run writes it anyway
	}
	if snk.Found {
		c := snk.SourceUpdatedAt.Compare(src.UpdatedAt)
		if snk.SourceUpdatedAt.IsZero() {
			c = 0 // the sink stores no source version: decide by the values
		}
		switch {
		case c == 0 && len(snk.Diffs) == 0:
			return Result{Verdict: Synced,
				Line: fmt.Sprintf("%s is synced: the sink holds key %s at source_updated_at %s with equal values", ev.ID, snk.Key, src.UpdatedAt.UTC().Format(rfc)),
				Next: []string{"nothing to do"}}
		case c == 0:
			return Result{Verdict: Different,
				Line: fmt.Sprintf("%s differs in the sink in %s although the sink holds the source's version %s: edited in the destination",
					ev.ID, diffFields(snk.Diffs), src.UpdatedAt.UTC().Format(rfc)),
				Next: backfillCmds(ev, "write the source's values again: ")}
		case c > 0:
			return Result{Verdict: Different,
				Line: fmt.Sprintf("%s: the sink holds a newer source version (%s) than the source (%s); writes of the source's version are refused as stale",
					ev.ID, snk.SourceUpdatedAt.UTC().Format(rfc), src.UpdatedAt.UTC().Format(rfc)),
				Next: []string{"find who wrote key " + snk.Key + " with a newer source_updated_at (another writer, or the source's clock went back); a sync cannot overwrite it"}}
		}
		// The sink holds an older version: the newer one was not written yet, or missed.
	}
	if !ev.Checkpoint.Rewound {
		return notYetSynced(ev)
	}
	return missed(ev)
}

func notInSource(ev Evidence) Result {
	what := "never existed in the source (or was deleted before any run read it)"
	if ev.Sink.Found || ev.Log.Failure != nil || ev.Log.Stale != nil {
		what = "is no longer in the source: deleted there"
	}
	var mode string
	switch ev.DeletesMode {
	case "SoftDelete", "Delete":
		mode = fmt.Sprintf("spec.deletes.mode %s acts on records the source marks deleted (spec.deletes.sourceField); a record removed from the source is not read again, so the sink keeps what it holds", ev.DeletesMode)
	default:
		mode = "spec.deletes.mode Ignore: the sink keeps what it holds"
	}
	line := fmt.Sprintf("%s %s; %s", ev.ID, what, mode)
	if ev.Sink.Found {
		line += fmt.Sprintf(" (the sink holds key %s)", ev.Sink.Key)
	}
	next := []string{"nothing to do"}
	if ev.Sink.Found {
		next = []string{"delete key " + ev.Sink.Key + " from the sink by hand if it must go"}
	}
	return Result{Verdict: NotInSource, Line: line, Next: next}
}

func deletedInSource(ev Evidence) Result {
	var does string
	want := false // whether the sink should hold the key after the deletion is synced
	switch ev.DeletesMode {
	case "SoftDelete":
		// The sink keeps the record with its marker set; a KeyReader reads live
		// records only, so a synced soft delete reads as absent.
		does = "the sink keeps the record with its delete marker set (no live record)"
	case "Delete":
		does = "the record is deleted from the sink"
	default:
		does = "the deletion is not written: the sink keeps what it holds"
		want = ev.Sink.Found
	}
	line := fmt.Sprintf("%s is marked deleted in the source; spec.deletes.mode %s: %s", ev.ID, modeOr(ev.DeletesMode), does)
	consistent := ev.Sink.Found == want
	switch {
	case consistent:
		return Result{Verdict: DeletedInSource, Line: line, Next: []string{"nothing to do"}}
	case !ev.Checkpoint.Rewound:
		return Result{Verdict: DeletedInSource, Line: line + "; not synced yet: " + nextRunText(ev), Next: []string{runCmd(ev)}}
	}
	return Result{Verdict: DeletedInSource, Line: line + "; the cursor passed it without the deletion reaching the sink",
		Next: backfillCmds(ev, "")}
}

func notYetSynced(ev Evidence) Result {
	cp := ev.Checkpoint
	var why string
	switch {
	case cp.Cursor == nil:
		why = "no run has stored a cursor yet"
	case !cp.Passed:
		why = fmt.Sprintf("the cursor (%s) has not reached it", cp.Cursor)
	default:
		why = fmt.Sprintf("the cursor passed it by %s, within the safety gap %s, so the next run reads it again", cp.Lead, cp.SafetyGap)
	}
	state := "not in the sink"
	if ev.Sink.Found {
		state = fmt.Sprintf("the sink holds an older version (%s)", ev.Sink.SourceUpdatedAt.UTC().Format(rfc))
	}
	return Result{Verdict: NotYetSynced,
		Line: fmt.Sprintf("%s is not synced yet (%s): %s; %s", ev.ID, state, why, nextRunText(ev)),
		Next: []string{"wait for the next run, or run now: " + runCmd(ev)}}
}

func missed(ev Evidence) Result {
	cp := ev.Checkpoint
	state := "is not in the sink"
	if ev.Sink.Found {
		state = fmt.Sprintf("is in the sink only in an older version (%s)", ev.Sink.SourceUpdatedAt.UTC().Format(rfc))
	}
	by := ""
	if cp.CoveredBy != nil {
		by = fmt.Sprintf(" (run %s read that range)", cp.CoveredBy.RunID)
	}
	return Result{Verdict: MissedLateCommit,
		Line: fmt.Sprintf("%s was missed: its updatedAt %s is %s behind the cursor, more than the safety gap %s%s, yet it %s: committed late, after a run had read past it",
			ev.ID, ev.Source.UpdatedAt.UTC().Format(rfc), cp.Lead, cp.SafetyGap, by, state),
		Next: backfillCmds(ev, "")}
}

func unknown(ev Evidence) Result {
	line := fmt.Sprintf("%s: the source cannot be asked by id (%s)", ev.ID, ev.Source.Err)
	if ev.Sink.Found {
		line += fmt.Sprintf("; the sink holds key %s at source_updated_at %s", ev.Sink.Key, ev.Sink.SourceUpdatedAt.UTC().Format(rfc))
	} else {
		line += "; the sink does not hold it"
	}
	return Result{Verdict: Unknown, Line: line, Next: []string{"look the record up in the source by hand"}}
}

// Backfill returns the [from, to) range, whole seconds, holding t.
func Backfill(t time.Time) (from, to time.Time) {
	from = t.UTC().Truncate(time.Second)
	return from, from.Add(time.Second)
}

// backfillCmds is the backfill over the record's second: the kubectl annotation and, in
// local mode, the local command first.
func backfillCmds(ev Evidence, prefix string) []string {
	from, to := Backfill(ev.Source.UpdatedAt)
	f, t := from.Format(time.RFC3339), to.Format(time.RFC3339)
	k := fmt.Sprintf("kubectl annotate syncjob %s%s sync.checkpointed.io/backfill-from=%s sync.checkpointed.io/backfill-to=%s sync.checkpointed.io/backfill-requested-at=%s --overwrite",
		ev.Job, nsFlag(ev), f, t, ev.Now.UTC().Format("20060102T150405Z"))
	if ev.Local != nil {
		return []string{prefix + fmt.Sprintf("runner sync -f %s --state-dir %s --backfill-from %s --backfill-to %s", ev.Local.JobFile, ev.Local.StateDir, f, t),
			"in a cluster: " + k}
	}
	return []string{prefix + k}
}

// runCmd starts a run now.
func runCmd(ev Evidence) string {
	if ev.Local != nil {
		return fmt.Sprintf("runner sync -f %s --state-dir %s", ev.Local.JobFile, ev.Local.StateDir)
	}
	return fmt.Sprintf("kubectl annotate syncjob %s%s sync.checkpointed.io/run-requested-at=%s --overwrite",
		ev.Job, nsFlag(ev), ev.Now.UTC().Format("20060102T150405Z"))
}

func nsFlag(ev Evidence) string {
	if ev.Namespace == "" {
		return ""
	}
	return " -n " + ev.Namespace
}

func retryText(ev Evidence) string {
	if ev.Checkpoint.FailedKey {
		return "it is on the failedKeys list: fix it and the next run retries it first (" + nextRunText(ev) + ")"
	}
	return "the next run that reads it fails it again (" + nextRunText(ev) + ")"
}

func nextRunText(ev Evidence) string {
	sched := "next scheduled run: unknown"
	if !ev.NextRun.IsZero() {
		sched = fmt.Sprintf("next scheduled run at %s (schedule %q)", ev.NextRun.UTC().Format(time.RFC3339), ev.Schedule)
	}
	if ev.Local != nil {
		return "next run: when you run runner sync; in a cluster, " + sched
	}
	return sched
}

func fieldOf(f string) string {
	if f == "" {
		return ""
	}
	return "field " + f + ": "
}

func modeOr(m string) string {
	if m == "" {
		return "Ignore"
	}
	return m
}

func diffFields(d []FieldDiff) string {
	names := make([]string, len(d))
	for i, f := range d {
		names[i] = f.Field
	}
	return strings.Join(names, ", ")
}
