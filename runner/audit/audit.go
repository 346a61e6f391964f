// Package audit keeps the record of one run: what was read and written, what failed and
// why, and where the cursor started and ended. It writes the record as JSON log lines (one
// per failed record, one per record skipped as stale, one per record deleted, one per run) and hands it to a
// Publisher (the SyncJob status in a cluster). The record is the runner's own type
// (Record); the runner maps it to the API's run record in one place (package runner/report).
package audit

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Bounds on what a record keeps, so that its size does not grow with the run.
const (
	// MaxErrorGroups bounds the error summary; reasons beyond it are counted under
	// OtherReasons.
	MaxErrorGroups = 20
	// MaxGroupSamples bounds the sample ids kept per error reason.
	MaxGroupSamples = 5
	// MaxSampleIDs bounds the sample ids of written records.
	MaxSampleIDs = 10
	// MaxDetail bounds the bytes of a failure's detail in a log line.
	MaxDetail = 512
)

// ReasonStale is the reason of a "record skipped" log line: the sink refused the write
// because it holds a newer source version.
const ReasonStale = "stale: the sink holds a newer version"

// OtherReasons is the error summary group that collects the reasons past MaxErrorGroups.
const OtherReasons = "other reasons"

// Publisher makes a finished run's record visible outside the runner (the SyncJob's status,
// an Event). stored is the durably stored checkpoint cursor after the run (nil: the
// beginning, or unknown when the checkpoint could not be loaded, in which case the record's
// Reason is CheckpointError). Publishing is best effort: the run's outcome does not depend
// on it.
type Publisher interface {
	Publish(ctx context.Context, rec Record, stored *cursor.Cursor) error
}

// Options identify a run and say where its log lines go.
type Options struct {
	// Out receives the JSON log lines; nil discards them.
	Out io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Job is the SyncJob's name, added to every log line.
	Job string
	// RunID is unique per run.
	RunID string
	// Trigger: Scheduled, Manual, Backfill, Local or Plan.
	Trigger string
}

// Recorder accumulates the audit record of one run in bounded memory. It is not safe for
// concurrent use: one goroutine (the engine's writer) records.
type Recorder struct {
	out   io.Writer
	now   func() time.Time
	job   string
	rec   Record
	group map[string]int // reason -> index in rec.ErrorSummary
	// events are this run's record events for the record log, the most recent
	// runcontract.MaxRecordLogEntries; dropped counts the older ones let go.
	events  []runcontract.RecordEvent
	dropped int64
	// failedIDs are the source ids already recorded as failed in this run: a record is
	// one failed record however often the run meets it (retried from the failed keys,
	// then re-read inside the safety gap). Bounded in practice by the failed keys a run
	// may hold (runcontract.MaxFailedKeys) or by maxErrors.
	failedIDs map[string]struct{}
}

// New starts the record of a run; its start time is now.
func New(o Options) *Recorder {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	return &Recorder{
		out: out,
		now: now,
		job: o.Job,
		rec: Record{
			RunID:     o.RunID,
			Trigger:   o.Trigger,
			StartTime: now().UTC(),
			Phase:     PhaseRunning,
		},
		group: map[string]int{},

		failedIDs: map[string]struct{}{},
	}
}

// cursorRef returns c, or nil for the beginning.
func cursorRef(c cursor.Cursor) *cursor.Cursor {
	if c.IsZero() {
		return nil
	}
	return &c
}

// SetCursorStart records where the run started reading.
func (r *Recorder) SetCursorStart(c cursor.Cursor) { r.rec.CursorStart = cursorRef(c) }

// SetCursorEnd records the committed cursor at the end of the run.
func (r *Recorder) SetCursorEnd(c cursor.Cursor) { r.rec.CursorEnd = cursorRef(c) }

// SetReconciliation records the drift check's result.
func (r *Recorder) SetReconciliation(rc *Reconciliation) { r.rec.Reconciliation = rc }

// SetMappingChange records a mapping change (nil: none).
func (r *Recorder) SetMappingChange(mc *MappingChange) { r.rec.MappingChange = mc }

// Warn adds a warning to the record, once per text.
func (r *Recorder) Warn(msg string) {
	if !slices.Contains(r.rec.Warnings, msg) {
		r.rec.Warnings = append(r.rec.Warnings, msg)
	}
}

// AddRead counts records read from the source.
func (r *Recorder) AddRead(n int) { r.rec.Read += int64(n) }

// AddOutcome counts one record the sink confirmed (id: the source id, key: the external
// key): Written (Deleted when the write was a deletion), Unchanged, SameVersion or Stale (reported as
// Skipped, with one "record skipped" log line naming the id and the key). Failed outcomes
// go through Fail.
func (r *Recorder) AddOutcome(id, key string, o connector.Outcome, deleted bool) {
	switch o {
	case connector.Written:
		if deleted {
			r.Deleted(id, key, DeletedByMarker)
			return
		}
		r.rec.Upserted++
		if len(r.rec.SampleIDs) < MaxSampleIDs {
			r.rec.SampleIDs = append(r.rec.SampleIDs, id)
		}
	case connector.Unchanged:
		r.rec.Unchanged++
	case connector.SameVersion:
		r.rec.SameVersion++
	case connector.Stale:
		r.AddSkipped(id, key, "")
	}
}

// AddUnchanged counts n records confirmed Unchanged as a whole (a Snapshot page whose
// every record the sink already held), as n AddOutcome calls would.
func (r *Recorder) AddUnchanged(n int64) { r.rec.Unchanged += n }

// AddSameVersions counts n records confirmed SameVersion as a whole (the overlap's
// version digests), without naming them.
func (r *Recorder) AddSameVersions(n int64) { r.rec.SameVersion += n }

// AddSkipped counts one record the sink refused as stale (it holds a newer version) and
// writes its "record skipped" log line naming the id, the external key and detail, the
// sink's own message ("" when it gave none).
func (r *Recorder) AddSkipped(id, key, detail string) {
	r.rec.Skipped++
	r.addEvent(runcontract.RecordEvent{Kind: runcontract.RecordStale, ID: id, Key: key, Reason: ReasonStale, Detail: truncate(detail, runcontract.MaxRecordDetail)})
	r.writeLine(recordSkippedLine{
		Level:  "info",
		Msg:    "record skipped",
		Time:   r.now().UTC().Format(time.RFC3339Nano),
		Job:    r.job,
		RunID:  r.rec.RunID,
		ID:     id,
		Key:    key,
		Reason: ReasonStale,
		Detail: truncate(detail, MaxDetail),
	})
}

// Why a record was deleted, in its "record deleted" log line.
const (
	// DeletedByMarker: the source record carries the soft-delete marker
	// (spec.deletes.sourceField).
	DeletedByMarker = "marker"
	// DeletedByTombstone: the source's deleted-records endpoint listed it.
	DeletedByTombstone = "tombstone"
	// DeletedAbsent: full key reconciliation found the key in the sink, not in the source.
	DeletedAbsent = "absent from source"
)

// Deleted counts one record the sink deleted or marked deleted (id: the source id, if
// known; key: the external key; why: one of the Deleted* reasons) and writes one "record
// deleted" log line.
func (r *Recorder) Deleted(id, key, why string) {
	r.rec.Deleted++
	r.addEvent(runcontract.RecordEvent{Kind: runcontract.RecordDeleted, ID: id, Key: key, Reason: why})
	r.writeLine(recordDeletedLine{
		Level:  "info",
		Msg:    "record deleted",
		Time:   r.now().UTC().Format(time.RFC3339Nano),
		Job:    r.job,
		RunID:  r.rec.RunID,
		ID:     id,
		Key:    key,
		Reason: why,
	})
}

// Fail records a failed record at position at: it counts it, groups it by reason and writes
// one "record failed" log line.
func (r *Recorder) Fail(e *connector.RecordError, at cursor.Cursor) { r.FailKey(e, at, "") }

// FailKey is Fail for a record whose external key is known (the sink refused it): the
// record log's entry names the key too. A record that already failed in this run is not
// counted, sampled or logged again.
func (r *Recorder) FailKey(e *connector.RecordError, at cursor.Cursor, key string) {
	if e.ID != "" {
		if _, seen := r.failedIDs[e.ID]; seen {
			return
		}
		r.failedIDs[e.ID] = struct{}{}
	}
	r.rec.Failed++
	reason := e.Reason
	if reason == "" {
		reason = "unknown"
	}
	i, ok := r.group[reason]
	if !ok {
		if len(r.rec.ErrorSummary) >= MaxErrorGroups-1 {
			reason = OtherReasons
			i, ok = r.group[reason]
		}
		if !ok {
			r.rec.ErrorSummary = append(r.rec.ErrorSummary, ErrorGroup{Reason: reason})
			i = len(r.rec.ErrorSummary) - 1
			r.group[reason] = i
		}
	}
	ev := runcontract.RecordEvent{Kind: runcontract.RecordFailed, ID: e.ID, Key: key, Field: e.Field, Reason: e.Reason,
		Detail: truncate(e.Detail, runcontract.MaxRecordDetail)}
	if !at.UpdatedAt.IsZero() {
		t := at.UpdatedAt.UTC()
		ev.SourceUpdatedAt = &t
	}
	r.addEvent(ev)
	g := &r.rec.ErrorSummary[i]
	g.Count++
	if len(g.SampleIDs) < MaxGroupSamples {
		g.SampleIDs = append(g.SampleIDs, e.ID)
	}
	r.writeLine(recordFailedLine{
		Level:  "error",
		Msg:    "record failed",
		Time:   r.now().UTC().Format(time.RFC3339Nano),
		Job:    r.job,
		RunID:  r.rec.RunID,
		ID:     e.ID,
		Cursor: at.String(),
		Field:  e.Field,
		Reason: e.Reason,
		Detail: truncate(e.Detail, MaxDetail),
	})
}

// addEvent keeps ev (stamped with the run and the time) for the record log, letting the
// oldest go past runcontract.MaxRecordLogEntries.
func (r *Recorder) addEvent(ev runcontract.RecordEvent) {
	ev.RunID = r.rec.RunID
	ev.Time = r.now().UTC()
	if len(r.events) >= runcontract.MaxRecordLogEntries {
		r.events = append(r.events[:0], r.events[1:]...)
		r.dropped++
	}
	r.events = append(r.events, ev)
}

// Events returns a copy of this run's record events (failed, stale, deleted records), the
// most recent runcontract.MaxRecordLogEntries, and how many older ones were let go.
func (r *Recorder) Events() ([]runcontract.RecordEvent, int64) {
	return slices.Clone(r.events), r.dropped
}

// SetRecordLog records the size of the record log stored with the checkpoint.
func (r *Recorder) SetRecordLog(st *RecordLogStats) { r.rec.RecordLog = st }

// SetFailedKeys records the number of failed keys pending in the stored checkpoint.
func (r *Recorder) SetFailedKeys(n int) {
	v := int64(n)
	r.rec.FailedKeys = &v
}

// Failed is the number of failed records so far.
func (r *Recorder) Failed() int64 { return r.rec.Failed }

// Snapshot returns a copy of the record as it stands.
func (r *Recorder) Snapshot() Record { return r.rec.clone() }

// Finish closes the record: it sets the phase, reason, message and completion time, writes
// the "run finished" log line and returns the record.
func (r *Recorder) Finish(phase Phase, reason, message string) Record {
	done := r.now().UTC()
	r.rec.CompletionTime = done
	r.rec.Phase = phase
	r.rec.Reason = reason
	r.rec.Message = message
	level := "info"
	if phase == PhaseFailed || phase == PhaseInterrupted {
		level = "error"
	}
	rec := r.Snapshot()
	r.writeLine(runFinishedLine{
		Level:  level,
		Msg:    "run finished",
		Time:   done.Format(time.RFC3339Nano),
		Job:    r.job,
		Record: rec,
	})
	return rec
}

type recordFailedLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Time   string `json:"time"`
	Job    string `json:"job,omitempty"`
	RunID  string `json:"runId"`
	ID     string `json:"id"`
	Cursor string `json:"cursor"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type recordSkippedLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Time   string `json:"time"`
	Job    string `json:"job,omitempty"`
	RunID  string `json:"runId"`
	ID     string `json:"id"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type recordDeletedLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Time   string `json:"time"`
	Job    string `json:"job,omitempty"`
	RunID  string `json:"runId"`
	ID     string `json:"id,omitempty"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

type runFinishedLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Time  string `json:"time"`
	Job   string `json:"job,omitempty"`
	Record
}

// writeLine writes v as one JSON line. Write errors are not reported: the log line is best
// effort; the record itself is still returned and published.
func (r *Recorder) writeLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_, _ = r.out.Write(append(b, '\n'))
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
