package runcontract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// RecordLogKey is the checkpoint ConfigMap's key (and, in local mode, the file next to the
// checkpoint file) holding the record log: JSON RecordLog.
const RecordLogKey = "record-log.json"

// Bounds of the record log. The oldest entries go first; RecordLog.Dropped counts them.
const (
	// MaxRecordLogBytes bounds the encoded record log (a ConfigMap holds at most 1 MiB,
	// shared with the checkpoint).
	MaxRecordLogBytes = 256 << 10
	// MaxRecordLogEntries bounds RecordLog.Entries.
	MaxRecordLogEntries = 1000
	// MaxRunHistory bounds RecordLog.Runs.
	MaxRunHistory = 20
	// MaxRecordDetail bounds the bytes of one entry's detail.
	MaxRecordDetail = 512
)

// Kinds of record log entries.
const (
	// RecordFailed: the record failed (mapping, validation or the sink refused it).
	RecordFailed = "failed"
	// RecordStale: the sink holds a newer source version; the write was refused.
	RecordStale = "stale"
	// RecordDeleted: the record was written as a deletion (spec.deletes).
	RecordDeleted = "deleted"
)

// RecordLog is the durable, bounded log of record-level events of a SyncJob's most recent
// runs and the cursor range of each run, the evidence `runner explain` reads:
//
//	{"job": "invoices-to-crm", "dropped": 0,
//	 "runs": [{"runId": "20260630T235500Z-1a2b3c", "trigger": "Scheduled",
//	           "startTime": "...", "endTime": "...", "phase": "PartiallySucceeded",
//	           "cursorStart": {...}, "cursorEnd": {...}}],
//	 "entries": [{"kind": "failed", "runId": "...", "time": "...", "id": "inv_10492",
//	              "field": "total", "reason": "not a decimal", "detail": "\"12,30\"",
//	              "sourceUpdatedAt": "..."}]}
//
// It sits next to the checkpoint (ConfigMap key RecordLogKey) and is written by the runner
// with the checkpoint, in the same compare-and-swap. Entries and Runs are oldest first. A
// detail never holds a credential: it is the record error's detail, which names values of
// the record and the API's message, never a request's headers or URL credentials.
type RecordLog struct {
	// Job is the SyncJob's name.
	Job string `json:"job"`
	// Dropped counts the entries removed (oldest first) to keep the log within its bounds.
	Dropped int64 `json:"dropped"`
	// Runs are the most recent runs' cursor ranges, oldest first, at most MaxRunHistory.
	Runs []RunRange `json:"runs,omitempty"`
	// Entries are the most recent record events, oldest first.
	Entries []RecordEvent `json:"entries,omitempty"`
}

// RunRange is one run's place in the source: the cursor it started reading at (after the
// safety gap) and the committed cursor it stored last. A record whose position is in
// (CursorStart, CursorEnd] was read by that run.
type RunRange struct {
	RunID     string    `json:"runId"`
	Trigger   string    `json:"trigger,omitempty"`
	StartTime time.Time `json:"startTime"`
	// EndTime is when this range was last stored (the run's end, or its last checkpoint).
	EndTime time.Time `json:"endTime"`
	// Phase is the run's phase when stored (Running for a run that did not finish).
	Phase string `json:"phase,omitempty"`
	// CursorStart nil: the beginning.
	CursorStart *cursor.Cursor `json:"cursorStart,omitempty"`
	// CursorEnd nil: nothing committed.
	CursorEnd *cursor.Cursor `json:"cursorEnd,omitempty"`
}

// Covers reports whether the run read position c: CursorStart < c <= CursorEnd (a nil
// CursorStart is the beginning, a nil CursorEnd covers nothing).
func (r RunRange) Covers(c cursor.Cursor, ids cursor.IDOrder) bool {
	if r.CursorEnd == nil {
		return false
	}
	if r.CursorStart != nil && cursor.Compare(c, *r.CursorStart, ids) <= 0 {
		return false
	}
	return cursor.Compare(c, *r.CursorEnd, ids) <= 0
}

// RecordEvent is one record-level event.
type RecordEvent struct {
	// Kind is RecordFailed, RecordStale or RecordDeleted.
	Kind string `json:"kind"`
	// RunID of the run it happened in.
	RunID string `json:"runId"`
	// Time it happened, UTC.
	Time time.Time `json:"time"`
	// ID is the source record's id.
	ID string `json:"id"`
	// Key is the external key, when known.
	Key string `json:"key,omitempty"`
	// Field at fault (failed records), when known.
	Field string `json:"field,omitempty"`
	// Reason in a few words.
	Reason string `json:"reason,omitempty"`
	// Detail adds the specifics, at most MaxRecordDetail bytes.
	Detail string `json:"detail,omitempty"`
	// SourceUpdatedAt is the record's updatedAt as read.
	SourceUpdatedAt *time.Time `json:"sourceUpdatedAt,omitempty"`
}

// AddRun records run's range, replacing an earlier range of the same run id, and keeps
// the MaxRunHistory most recent.
func (l *RecordLog) AddRun(run RunRange) {
	for i := range l.Runs {
		if l.Runs[i].RunID == run.RunID {
			l.Runs[i] = run
			return
		}
	}
	l.Runs = append(l.Runs, run)
	if n := len(l.Runs) - MaxRunHistory; n > 0 {
		l.Runs = append([]RunRange(nil), l.Runs[n:]...)
	}
}

// Bound drops the oldest entries until at most maxEntries remain and the encoded log takes
// at most maxBytes, counting them in Dropped.
func (l *RecordLog) Bound(maxEntries, maxBytes int) {
	if n := len(l.Entries) - maxEntries; n > 0 {
		l.drop(n)
	}
	for len(l.Entries) > 0 {
		size := l.size()
		if size <= maxBytes {
			return
		}
		// Drop at least one entry, more when far over: estimate by the average entry size.
		over := size - maxBytes
		avg := max(1, size/(len(l.Entries)+1))
		l.drop(min(len(l.Entries), max(1, over/avg)))
	}
}

func (l *RecordLog) drop(n int) {
	l.Entries = append([]RecordEvent(nil), l.Entries[n:]...)
	l.Dropped += int64(n)
}

// size is the length of the encoded log.
func (l *RecordLog) size() int {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return 0
	}
	return len(data) + 1
}

// EncodeRecordLog renders l as stored (indented JSON, newline-terminated). An empty l.Job
// is filled with job; another job's log is refused.
func EncodeRecordLog(job string, l RecordLog) ([]byte, error) {
	if l.Job == "" {
		l.Job = job
	}
	if job != "" && l.Job != job {
		return nil, fmt.Errorf("record log belongs to job %q, not %q", l.Job, job)
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode record log: %w", err)
	}
	return append(data, '\n'), nil
}

// ErrInvalidRecordLog marks stored data that is not a record log (DecodeRecordLog): a run
// replaces such a log with a new one, while a log it could not read at all is kept.
var ErrInvalidRecordLog = errors.New("does not hold a valid record log")

// DecodeRecordLog parses a stored record log. Blank data, JSON without a "job" field and
// another job's log are errors wrapping ErrInvalidRecordLog; the caller names the store.
func DecodeRecordLog(job string, data []byte) (RecordLog, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return RecordLog{}, fmt.Errorf("%w: it is present but empty", ErrInvalidRecordLog)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return RecordLog{}, fmt.Errorf("%w: %w", ErrInvalidRecordLog, err)
	}
	if _, ok := fields["job"]; !ok {
		return RecordLog{}, fmt.Errorf(`%w: it has no "job" field`, ErrInvalidRecordLog)
	}
	var l RecordLog
	if err := json.Unmarshal(data, &l); err != nil {
		return RecordLog{}, fmt.Errorf("%w: %w", ErrInvalidRecordLog, err)
	}
	if l.Job != "" && job != "" && l.Job != job {
		return RecordLog{}, fmt.Errorf("%w: it belongs to job %q, not %q", ErrInvalidRecordLog, l.Job, job)
	}
	return l, nil
}
