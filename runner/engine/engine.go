// Package engine runs one checkpointed sync (DESIGN.md §4): it takes the run lock, loads the
// checkpoint, retries the records that failed last time, then reads the source page by page
// after the cursor, maps each record, upserts the page into the sink, and advances the
// committed cursor only past records whose write the sink confirmed or that were recorded as
// failed under policy Skip. The stored checkpoint never passes the committed cursor.
//
// The engine depends only on the contracts in runner/connector and runner/checkpoint and on
// the Mapper interface below; it never imports a concrete connector, mapping or store.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
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

// UnsortedSource is an optional Source capability: a source whose pages are not ascending by
// (updatedAt, id) says so by returning true. Config.Unsorted has the same effect.
type UnsortedSource interface {
	Unsorted() bool
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

// ErrorPolicy decides what a record error does to the run.
type ErrorPolicy string

// Error policies (spec.errors.policy).
const (
	// Skip records the failed record, keeps its id for a retry on the next run and goes on;
	// the cursor passes it.
	Skip ErrorPolicy = "Skip"
	// Halt stops the committed cursor just before the failed record and fails the run.
	Halt ErrorPolicy = "Halt"
)

// Range makes the run a backfill over [From, To): it reads from From (or from the backfill's
// stored progress, whichever is later), stops before the first record with UpdatedAt >= To,
// and keeps its progress in State.Backfills[Key], never touching State.Cursor. A backfill
// that is already Done reads nothing.
type Range struct {
	// From is the first UpdatedAt included.
	From time.Time
	// To is the first UpdatedAt excluded.
	To time.Time
	// Key names the backfill in the checkpoint (the request token).
	Key string
}

// Reconcile configures the drift check after a run (spec.reconcile): when Sample > 0 and
// both the source and the sink implement connector.Counter, the records with UpdatedAt in
// [cursorEnd - Window, cursorEnd] are counted on both sides.
type Reconcile struct {
	// Window of UpdatedAt, ending at the committed cursor, that is counted.
	Window time.Duration
	// Sample > 0 turns the check on.
	Sample int
}

// Defaults applied to a zero Config field.
const (
	DefaultPageSize     = 500
	DefaultPreviewLimit = 20
	DefaultSaveTimeout  = 10 * time.Second
)

// Config is everything one run needs. Source, Sink (except for a dry run), Mapper and Store
// (except for a dry run) are required.
type Config struct {
	// Job is the SyncJob's name (stored in the checkpoint and the log lines).
	Job string
	// RunID is unique per run.
	RunID string
	// Trigger is Scheduled, Manual, Backfill, Local or Plan.
	Trigger string

	// Source is read; its optional Fetcher and Counter capabilities are used when present.
	Source connector.Source
	// Sink is written; its optional Counter capability is used by the drift check.
	Sink connector.Sink
	// Mapper maps each source record.
	Mapper Mapper
	// Store keeps the checkpoint.
	Store checkpoint.Store
	// Lock keeps two runners apart; nil runs without a lock (local mode).
	Lock checkpoint.Lock
	// Publisher receives the run record at the end; nil publishes nothing.
	Publisher audit.Publisher
	// AuditOut receives the JSON audit lines; nil discards them.
	AuditOut io.Writer
	// Clock defaults to SystemClock.
	Clock Clock
	// Logger for operational messages; the zero Logger discards.
	Logger logr.Logger

	// PageSize is the number of records read, mapped and written at a time.
	PageSize int
	// SafetyGap rewinds the stored cursor at the start of the run.
	SafetyGap time.Duration
	// StartAt is where a run starts when there is no stored cursor (zero: the beginning).
	StartAt time.Time
	// CheckpointInterval is the least time between two checkpoint saves during the run;
	// 0 saves after every committed page. The checkpoint is always saved at the end.
	CheckpointInterval time.Duration
	// ErrorPolicy defaults to Skip.
	ErrorPolicy ErrorPolicy
	// MaxErrors halts the run, whatever the policy, once more record errors than this
	// occurred. A negative value means no limit.
	MaxErrors int
	// Unsorted declares that the source's pages are not ascending by (updatedAt, id) (or
	// the source implements UnsortedSource). The engine then passes the run's start cursor
	// to every ReadPage call (the source follows its own page tokens and reports More=false
	// at the end), reads to the end in one run, de-duplicates records by id within the run
	// (a set of ids: memory O(rows) for unsorted sources only), and advances the cursor only
	// at the end of a complete run, to the highest (updatedAt, id) seen.
	Unsorted bool
	// Range, if set, makes the run a backfill.
	Range *Range
	// Reconcile configures the drift check.
	Reconcile Reconcile
	// DryRun reads and maps without writing, storing or publishing (plan mode); the result
	// carries a Plan. No lock is taken.
	DryRun bool
	// PreviewLimit bounds Plan.Records (default DefaultPreviewLimit).
	PreviewLimit int
	// SaveTimeout bounds the final checkpoint save and the publish, which run on a fresh
	// context when the run's context is cancelled (default DefaultSaveTimeout).
	SaveTimeout time.Duration
}

// Plan is what a dry run would have done.
type Plan struct {
	// Writes is the number of records that would have been upserted.
	Writes int64
	// Records are the first mapped records (at most Config.PreviewLimit).
	Records []connector.WriteRecord
}

// Result is the outcome of a run.
type Result struct {
	// Record is the audit record (zero when Locked).
	Record v1alpha1.RunRecord
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
	Phase v1alpha1.RunPhase
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

func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Source == nil:
		return cfg, errors.New("no source")
	case cfg.Mapper == nil:
		return cfg, errors.New("no mapper")
	case cfg.Sink == nil && !cfg.DryRun:
		return cfg, errors.New("no sink")
	case cfg.Store == nil && !cfg.DryRun:
		return cfg, errors.New("no checkpoint store")
	case cfg.PageSize < 0:
		return cfg, fmt.Errorf("page size %d is negative", cfg.PageSize)
	case cfg.SafetyGap < 0:
		return cfg, fmt.Errorf("safety gap %s is negative", cfg.SafetyGap)
	case cfg.CheckpointInterval < 0:
		return cfg, fmt.Errorf("checkpoint interval %s is negative", cfg.CheckpointInterval)
	}
	switch cfg.ErrorPolicy {
	case "":
		cfg.ErrorPolicy = Skip
	case Skip, Halt:
	default:
		return cfg, fmt.Errorf("error policy %q is neither Skip nor Halt", cfg.ErrorPolicy)
	}
	if r := cfg.Range; r != nil {
		if r.Key == "" {
			return cfg, errors.New("backfill range has no key")
		}
		if !r.To.After(r.From) {
			return cfg, fmt.Errorf("backfill range [%s, %s) is empty", r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
		}
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.PreviewLimit == 0 {
		cfg.PreviewLimit = DefaultPreviewLimit
	}
	if cfg.SaveTimeout <= 0 {
		cfg.SaveTimeout = DefaultSaveTimeout
	}
	if u, ok := cfg.Source.(UnsortedSource); ok && u.Unsorted() {
		cfg.Unsorted = true
	}
	return cfg, nil
}
