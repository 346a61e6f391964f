package engine

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// UnsortedSource is an optional Source capability: a source whose pages are not ascending by
// (updatedAt, id) says so by returning true. Config.Unsorted has the same effect.
type UnsortedSource interface {
	Unsorted() bool
}

// ErrorPolicy decides what a record error does to the run.
type ErrorPolicy string

// Error policies (spec.errors.policy).
const (
	// Skip records the failed record, keeps its id for a retry on the next run and goes on;
	// the cursor passes it. When the checkpoint's failed keys are full
	// (runcontract.MaxFailedKeys), a further failure stops the cursor before that record and
	// fails the run (runcontract.ReasonFailedKeysFull): no failure is ever dropped.
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

// Reconcile configures the drift check after a run (spec.reconcile; see drift.go): when
// Sample > 0 and Window > 0, the records with UpdatedAt in [cursorEnd - Window, cursorEnd]
// are counted on both sides (when the source and the sink implement connector.Counter) and
// up to Sample of them are compared field by field (when the source implements
// connector.Fetcher and the sink connector.KeyReader).
type Reconcile struct {
	// Window of UpdatedAt, ending at the committed cursor, that is compared.
	Window time.Duration
	// Sample is how many records are compared field by field; > 0 turns the check on.
	Sample int
}

// MappingChangePolicy decides what a run does when the mapping's fingerprint differs from
// the stored one (spec.onMappingChange).
type MappingChangePolicy string

// Mapping change policies.
const (
	// MappingIgnore reports the change (the record's MappingChange) and re-syncs nothing
	// by itself; a run that starts from the beginning (after a reset) is the full re-sync.
	MappingIgnore MappingChangePolicy = "Ignore"
	// MappingBackfill moves the main cursor back to the beginning once per change, so the
	// run (and the following ones, if it stops) re-syncs every record under the new
	// mapping.
	MappingBackfill MappingChangePolicy = "Backfill"
)

// Defaults applied to a zero Config field.
const (
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
	// Sink is written; its optional Counter and KeyReader capabilities are used by the
	// drift check.
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

	// PageSize is the number of records read, mapped and written at a time (spec.pageSize;
	// required, positive).
	PageSize int
	// AdaptivePageSize lets the main loop choose the size of each page it reads
	// (pagesize.go): it starts at PageSize, never goes below it but for the memory budget
	// of wide rows, and grows up to MaxPageSize while pages are written quickly. Set when
	// spec.pageSize is unset; PageSize is then StartPageSize. Snapshot scans keep PageSize.
	AdaptivePageSize bool
	// SafetyGap rewinds the stored cursor at the start of the run.
	SafetyGap time.Duration
	// StartAt is where a run starts when there is no stored cursor (zero: the beginning).
	StartAt time.Time
	// CheckpointInterval is the least time between two checkpoint saves during the run;
	// 0 saves after every committed page. The checkpoint is always saved at the end.
	CheckpointInterval time.Duration
	// ErrorPolicy is Skip or Halt (spec.errors.policy; required).
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
	// Snapshot makes the run a full scan with content hashes (spec.cursor.mode Snapshot,
	// snapshot.go): the source must implement connector.Scanner and the sink
	// connector.HashReader (a dry run without a sink plans every record); Range and
	// Unsorted are refused. Records carry no updatedAt: the stale guard is off.
	Snapshot bool
	// SnapshotRowHash, in Snapshot mode, fingerprints everything besides the source record
	// that the Mapper's output depends on (the mapping, the source's settings, the runner's
	// conversion rules). Set, a record's hash is taken over the source record as read plus
	// this fingerprint (RowHash) before it is mapped, and a record whose hash the sink holds
	// is not mapped at all (snapshot_rowhash.go); the Mapper must implement KeyMapper. A
	// changed fingerprint changes every hash, so every record is written again. Leave it
	// empty when the output depends on anything else (lookups into the sink): hashes are
	// then taken over the mapped record (RecordHash).
	SnapshotRowHash string
	// Reconcile configures the drift check.
	Reconcile Reconcile
	// RewriteOverlap writes every record re-read inside the safety gap again, as runs did
	// before the overlap's version check (overlap.go); false (the default) writes only
	// those whose source version the sink does not hold, when the sink can tell
	// (connector.VersionReader).
	RewriteOverlap bool
	// OverlapKey, when set, says how the external key is made from a source field (Prefix +
	// the field's text), so that the overlap's version check can compare digests of the
	// gap's versions before it scans them (overlapdigest.go); nil: it scans.
	OverlapKey *SourceKey
	// MappingFingerprint identifies what the Mapper writes (the key and the mapping
	// entries); "" turns mapping-change detection off. See mappingchange.go.
	MappingFingerprint string
	// OnMappingChange is MappingIgnore or MappingBackfill; required with a
	// MappingFingerprint.
	OnMappingChange MappingChangePolicy
	// Deletes configures full key reconciliation and the delete valve (deletes.go).
	Deletes Deletes
	// DryRun reads and maps without writing, storing or publishing (plan mode); the result
	// carries a Plan. No lock is taken.
	DryRun bool
	// PreviewLimit bounds Plan.Records (default DefaultPreviewLimit).
	PreviewLimit int
	// SaveTimeout bounds the final checkpoint save and the publish, which run on a fresh
	// context when the run's context is cancelled (default DefaultSaveTimeout).
	SaveTimeout time.Duration

	// maxFailedKeys bounds the checkpoint's failed keys (runcontract.MaxFailedKeys; tests
	// set a smaller bound).
	maxFailedKeys int
	// pageSizes is the adaptive size's policy (tests; nil: defaultPageSizePolicy).
	pageSizes *pageSizePolicy
	// versionScanPage is the number of positions the overlap's version scan reads a round
	// trip (tests; 0: versionScanLimit, overlapscan.go).
	versionScanPage int
}

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
	case cfg.PageSize <= 0:
		return cfg, fmt.Errorf("page size %d is not positive", cfg.PageSize)
	case cfg.SafetyGap < 0:
		return cfg, fmt.Errorf("safety gap %s is negative", cfg.SafetyGap)
	case cfg.CheckpointInterval < 0:
		return cfg, fmt.Errorf("checkpoint interval %s is negative", cfg.CheckpointInterval)
	}
	switch cfg.ErrorPolicy {
	case Skip, Halt:
	default:
		return cfg, fmt.Errorf("error policy %q is neither Skip nor Halt", cfg.ErrorPolicy)
	}
	if cfg.MappingFingerprint != "" && cfg.OnMappingChange != MappingIgnore && cfg.OnMappingChange != MappingBackfill {
		return cfg, fmt.Errorf("mapping change policy %q is neither Ignore nor Backfill", cfg.OnMappingChange)
	}
	if r := cfg.Range; r != nil {
		if r.Key == "" {
			return cfg, errors.New("backfill range has no key")
		}
		if !r.To.After(r.From) {
			return cfg, fmt.Errorf("backfill range [%s, %s) is empty", r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
		}
	}
	if cfg.Snapshot {
		if err := cfg.snapshotCapable(); err != nil {
			return cfg, err
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.PreviewLimit == 0 {
		cfg.PreviewLimit = DefaultPreviewLimit
	}
	if cfg.maxFailedKeys <= 0 {
		cfg.maxFailedKeys = runcontract.MaxFailedKeys
	}
	if cfg.SaveTimeout <= 0 {
		cfg.SaveTimeout = DefaultSaveTimeout
	}
	if u, ok := cfg.Source.(UnsortedSource); ok && u.Unsorted() {
		cfg.Unsorted = true
	}
	return cfg, nil
}

// snapshotCapable reports what keeps a Snapshot run from working with this config.
func (cfg Config) snapshotCapable() error {
	if _, ok := cfg.Source.(connector.Scanner); !ok {
		return errors.New("snapshot mode: the source cannot be scanned by id (no connector.Scanner)")
	}
	if cfg.Sink != nil {
		if _, ok := cfg.Sink.(connector.HashReader); !ok {
			return errors.New("snapshot mode: the sink cannot store content hashes (no connector.HashReader)")
		}
	} else if !cfg.DryRun {
		return errors.New("snapshot mode: no sink")
	}
	if cfg.Range != nil {
		return errors.New("snapshot mode: a backfill range does not apply (every run reads the whole source)")
	}
	if _, ok := cfg.Mapper.(KeyMapper); cfg.SnapshotRowHash != "" && !ok {
		return errors.New("snapshot mode: hashes of source records (SnapshotRowHash) need a mapper that computes keys alone (KeyMapper)")
	}
	if u, ok := cfg.Source.(UnsortedSource); cfg.Unsorted || ok && u.Unsorted() {
		return errors.New("snapshot mode: the source must scan ascending by id, not unsorted")
	}
	return nil
}
