package runcontract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// MaxFailedKeys bounds Checkpoint.FailedKeys. A run never drops a key to stay under it: a
// record error that would need one more key stops the run before that record (reason
// ReasonFailedKeysFull).
const MaxFailedKeys = 1000

// Checkpoint is the durable state of a sync between runs: the JSON under CheckpointKey in
// the checkpoint ConfigMap (or the checkpoint file of local mode):
//
//	{"job": "invoices-to-crm",
//	 "cursor": {"updatedAt": "2026-06-30T23:55:00.123456Z", "id": "inv_10492"},
//	 "safetyGap": "5m",
//	 "lastRun": {"runId": "...", "processed": 842, "upserts": 842, "errors": 0},
//	 "failedKeys": ["inv_10311"],
//	 "failedUpdatedAt": {"inv_10311": "2026-06-30T22:10:00.5Z"}}
//
// Only a runner process writes it (a run, or a reset Job); the controller creates the
// ConfigMap empty and never writes it again.
type Checkpoint struct {
	// Job is the SyncJob's name.
	Job string `json:"job"`
	// Cursor is the committed position; nil means the beginning.
	Cursor *cursor.Cursor `json:"cursor,omitempty"`
	// SafetyGap in force when the cursor was stored (Go duration text).
	SafetyGap string `json:"safetyGap,omitempty"`
	// LastRun summarises the run that stored this state.
	LastRun *RunSummary `json:"lastRun,omitempty"`
	// FailedKeys are source ids of records that failed under policy Skip, oldest first,
	// retried first on the next run: fetched by id when the source can, otherwise re-read
	// from the oldest of their FailedUpdatedAt. At most MaxFailedKeys.
	FailedKeys []string `json:"failedKeys,omitempty"`
	// FailedUpdatedAt holds, for each of FailedKeys, the record's updatedAt when it failed:
	// a source that cannot fetch by id re-reads from the oldest of them. A key without an
	// entry (stored before this field existed) cannot be re-read from its position; it is
	// kept until a fetch, a re-read that reaches it (a reset to an earlier time) or a reset
	// with --clear-failed-keys removes it.
	FailedUpdatedAt map[string]time.Time `json:"failedUpdatedAt,omitempty"`
	// Backfills hold the progress of backfill runs by request token; they never touch Cursor.
	Backfills map[string]Backfill `json:"backfills,omitempty"`
	// MappingFingerprint identifies the spec.key and spec.mapping that the records synced
	// so far were written with. A run stores it when there is none (a fresh checkpoint, or
	// one stored before fingerprints existed: the current mapping is adopted silently) and
	// when a full re-sync under a changed mapping completes (MappingResync); until then a
	// different current fingerprint is a mapping change.
	MappingFingerprint string `json:"mappingFingerprint,omitempty"`
	// MappingResync is a full re-sync under a changed mapping in progress: the main cursor
	// went back to the beginning under that mapping (onMappingChange Backfill, or a reset to
	// the beginning) and its progress is Cursor. A later run resumes it from Cursor (it never
	// starts it again); the run that reads to the end stores Fingerprint as
	// MappingFingerprint and removes MappingResync, so a completed re-sync never repeats.
	MappingResync *MappingResync `json:"mappingResync,omitempty"`
	// RunsSinceFullReconcile counts the complete main runs since the last full key
	// reconciliation (spec.deletes.fullReconcile.everyRuns): 0 right after one.
	RunsSinceFullReconcile int `json:"runsSinceFullReconcile,omitempty"`
	// LastResetRequest is the token of the last reset request applied to this checkpoint
	// (a reset Job's CHECKPOINTED_REQUEST_TOKEN): a reset Job that runs again for the same
	// token (a retried Pod, a Job created twice) changes nothing, so each reset request is
	// applied exactly once.
	LastResetRequest string `json:"lastResetRequest,omitempty"`
}

// MappingResync is a full re-sync of the main cursor under one mapping.
type MappingResync struct {
	// Fingerprint of the mapping the re-sync writes with.
	Fingerprint string `json:"fingerprint"`
}

// RunSummary is the checkpoint's short record of a run.
type RunSummary struct {
	RunID     string `json:"runId"`
	Phase     string `json:"phase,omitempty"`
	Processed int64  `json:"processed"`
	Upserts   int64  `json:"upserts"`
	Errors    int64  `json:"errors"`
}

// Backfill is the progress of one backfill over [From, To).
type Backfill struct {
	From   string         `json:"from"`
	To     string         `json:"to"`
	Cursor *cursor.Cursor `json:"cursor,omitempty"`
	Done   bool           `json:"done,omitempty"`
}

// EncodeCheckpoint renders cp as the stored JSON (indented, newline-terminated). An empty
// cp.Job is filled with job; another job's checkpoint is refused.
func EncodeCheckpoint(job string, cp Checkpoint) ([]byte, error) {
	if cp.Job == "" {
		cp.Job = job
	}
	if job != "" && cp.Job != job {
		return nil, fmt.Errorf("checkpoint belongs to job %q, not %q", cp.Job, job)
	}
	data, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return append(data, '\n'), nil
}

// DecodeCheckpoint parses stored JSON. It is only called for data that is present: a
// store with nothing in it (no file, no ConfigMap key) is a zero Checkpoint without calling
// it. Data that is blank, `null`, `{}` or any JSON without a "job" field (every stored
// checkpoint has one), data that is not a checkpoint, and another job's checkpoint (when
// both are named) are errors: a checkpoint is never silently reset. The caller names the
// store in the error, as in "<store> does not hold a valid checkpoint: ...".
func DecodeCheckpoint(job string, data []byte) (Checkpoint, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Checkpoint{}, errors.New("does not hold a valid checkpoint: it is present but empty")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return Checkpoint{}, fmt.Errorf("does not hold a valid checkpoint: %w", err)
	}
	if _, ok := fields["job"]; !ok {
		return Checkpoint{}, errors.New(`does not hold a valid checkpoint: it has no "job" field (null, {} and other JSON without one are not a checkpoint)`)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("does not hold a valid checkpoint: %w", err)
	}
	if cp.Job != "" && job != "" && cp.Job != job {
		return Checkpoint{}, fmt.Errorf("belongs to job %q, not %q", cp.Job, job)
	}
	return cp, nil
}
