// Package engine runs one checkpointed sync (docs/architecture.md, "The checkpoint
// invariant"): it takes the run lock, loads the checkpoint, retries the records that failed
// last time, then reads the source page by page after the cursor, maps each record, upserts
// the page into the sink, and advances the committed cursor only past records whose write
// the sink confirmed or that were recorded as failed under policy Skip. The stored
// checkpoint never passes the committed cursor.
//
// How a run moves is chosen once, from the Config, as three small strategies: the source's
// order (sorted.go, unsorted.go), the scope of its progress (the main cursor, or a
// backfill's own: scope.go, backfill.go) and its output (the sink, or a dry run's plan:
// output.go, dryrun.go). The main loop (run.go) does not branch on the mode.
//
// The engine depends only on the contracts in runner/connector and runner/checkpoint, on
// internal/cursor and internal/runcontract, and on the Mapper interface below; it never
// imports a concrete connector, mapping or store, nor the API: its result is an
// audit.Record, which the runner maps to the API's run record.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Mapper turns a source record into the record to upsert. A problem with the record (it does
// not map or validate) is returned as a *connector.RecordError; any other error is treated
// as a record error too, with the error's text as its detail.
type Mapper interface {
	Map(connector.Record) (connector.WriteRecord, error)
}

// ValuesRecycler is an optional Mapper capability: RecycleValues takes back the Values
// maps of written records (once their page is committed, only when the sink keeps nothing
// of a batch: connector.BatchReleaser) for later records. The engine hands each map back at
// most once and keeps no reference to it.
type ValuesRecycler interface {
	RecycleValues([]connector.WriteRecord)
}

// Clock tells the time; the engine reads it to decide when to store the checkpoint and to
// stamp the audit record.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Result is the outcome of a run.
type Result struct {
	// Record is the audit record (zero when Locked).
	Record audit.Record
	// Cursor is the committed cursor at the end: the main cursor, or the backfill's own
	// cursor for a backfill (nil: nothing committed, the beginning).
	Cursor *cursor.Cursor
	// Stored is the durably stored main cursor after the run (nil: the beginning).
	Stored *cursor.Cursor
	// Locked reports that another runner held the lock: nothing was read or recorded.
	Locked bool
	// Plan is set for a dry run.
	Plan *Plan
}

// RunError reports a run that ended Failed or Interrupted. The Result still carries the
// audit record; Err is the underlying cause when there is one.
type RunError struct {
	// Phase is Failed or Interrupted.
	Phase audit.Phase
	// Reason is one of the Reason constants.
	Reason string
	// Message explains the failure.
	Message string
	// Err is the cause, if any.
	Err error
}

// Error renders the run's failure.
func (e *RunError) Error() string {
	return fmt.Sprintf("run %s (%s): %s", e.Phase, e.Reason, e.Message)
}

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// Run executes one run. The returned error is nil when the run Succeeded or
// PartiallySucceeded; a *RunError when it ended Failed or Interrupted (the Result then still
// holds the record); an error wrapping checkpoint.ErrLocked (with Result.Locked) when another
// runner holds the lock, in which case nothing was read, stored or recorded; and any other
// error when the configuration is invalid or the lock could not be taken.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, fmt.Errorf("engine config: %w", err)
	}
	runCtx := ctx
	if !cfg.DryRun && cfg.Lock != nil {
		held, release, err := cfg.Lock.Acquire(ctx)
		if err != nil {
			if errors.Is(err, checkpoint.ErrLocked) {
				return Result{Locked: true}, fmt.Errorf("sync %s not started: %w", cfg.Job, err)
			}
			return Result{}, fmt.Errorf("take run lock of %s: %w", cfg.Job, err)
		}
		defer release()
		c, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(held, func() { cancel(errLockLost) })
		defer stop()
		runCtx = c
	}
	r := newRun(cfg)
	return r.execute(runCtx, ctx)
}

// errLockLost is the cancellation cause when the run lock's held context ends.
var errLockLost = errors.New("run lock lost")
