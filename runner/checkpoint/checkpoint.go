// Package checkpoint holds the durable state of a sync between runs, the stores that keep
// it (a file locally, a ConfigMap in a cluster) and the run locks that keep two runners of
// one SyncJob apart.
package checkpoint

import (
	"context"
	"errors"

	"github.com/checkpointed/checkpointed/runner/cursor"
)

// MaxFailedKeys bounds State.FailedKeys; the oldest entries are dropped first.
const MaxFailedKeys = 1000

// State is the stored checkpoint, serialised as the ConfigMap's "checkpoint.json":
//
//	{"job": "invoices-to-crm",
//	 "cursor": {"updatedAt": "2026-06-30T23:55:00.123456Z", "id": "inv_10492"},
//	 "safetyGap": "5m",
//	 "lastRun": {"runId": "...", "processed": 842, "upserts": 842, "errors": 0},
//	 "failedKeys": ["..."]}
type State struct {
	// Job is the SyncJob's name.
	Job string `json:"job"`
	// Cursor is the committed position; nil means the beginning.
	Cursor *cursor.Cursor `json:"cursor,omitempty"`
	// SafetyGap in force when the cursor was stored (Go duration text).
	SafetyGap string `json:"safetyGap,omitempty"`
	// LastRun summarises the run that stored this state.
	LastRun *RunSummary `json:"lastRun,omitempty"`
	// FailedKeys are source ids of records that failed under policy Skip, retried first on
	// the next run when the source can fetch by id. At most MaxFailedKeys.
	FailedKeys []string `json:"failedKeys,omitempty"`
	// Backfills hold the progress of backfill runs by request token; they never touch Cursor.
	Backfills map[string]Backfill `json:"backfills,omitempty"`
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

// ErrConflict is returned by Store.Save when the stored state changed since it was loaded:
// another runner moved it. The run must end.
var ErrConflict = errors.New("checkpoint changed since it was loaded (another runner moved it)")

// ErrLocked is returned by Lock.Acquire when another runner holds the run lock.
var ErrLocked = errors.New("another run holds the lock")

// Store loads and saves the checkpoint with compare-and-swap semantics: Save succeeds only
// if nothing else saved since this store's last Load or Save.
type Store interface {
	// Load returns the stored state; a store with nothing in it returns a zero State.
	Load(ctx context.Context) (State, error)
	// Save stores st durably, or returns ErrConflict (wrapped) if the state moved.
	Save(ctx context.Context, st State) error
}

// Lock is a run lock: at most one runner per SyncJob at a time.
type Lock interface {
	// Acquire takes the lock or returns ErrLocked (wrapped) if another runner holds it. The
	// returned context is cancelled if the lock is lost while held (lease not renewed);
	// release gives it back.
	Acquire(ctx context.Context) (held context.Context, release func(), err error)
}
