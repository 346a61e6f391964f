// Package checkpoint holds the durable state of a sync between runs, the stores that keep
// it (a file locally, a ConfigMap in a cluster) and the run locks that keep two runners of
// one SyncJob apart.
package checkpoint

import (
	"context"
	"errors"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// ErrConflict is returned by Store.Save when the stored state changed since it was loaded:
// another runner moved it. The run must end.
var ErrConflict = errors.New("checkpoint changed since it was loaded (another runner moved it)")

// ErrLocked is returned by Lock.Acquire when another runner holds the run lock.
var ErrLocked = errors.New("another run holds the lock")

// Store loads and saves the checkpoint with compare-and-swap semantics: Save succeeds only
// if nothing else saved since this store's last Load or Save.
type Store interface {
	// Load returns the stored state; a store with nothing in it returns a zero runcontract.Checkpoint.
	Load(ctx context.Context) (runcontract.Checkpoint, error)
	// Save stores st durably, or returns ErrConflict (wrapped) if the state moved.
	Save(ctx context.Context, st runcontract.Checkpoint) error
}

// Lock is a run lock: at most one runner per SyncJob at a time.
type Lock interface {
	// Acquire takes the lock or returns ErrLocked (wrapped) if another runner holds it. The
	// returned context is cancelled if the lock is lost while held (lease not renewed);
	// release gives it back.
	Acquire(ctx context.Context) (held context.Context, release func(), err error)
}

// RecordLogStore is an optional Store capability: the store keeps the record log
// (runcontract.RecordLog: record-level events and the recent runs' cursor ranges) next to
// the checkpoint, and saves both in one compare-and-swap.
type RecordLogStore interface {
	// LoadRecordLog returns the stored record log; a store with none returns a zero
	// runcontract.RecordLog. It may be called without Load.
	LoadRecordLog(ctx context.Context) (runcontract.RecordLog, error)
	// SaveWithRecordLog is Save that also stores log, under the same compare-and-swap.
	SaveWithRecordLog(ctx context.Context, st runcontract.Checkpoint, log runcontract.RecordLog) error
}
