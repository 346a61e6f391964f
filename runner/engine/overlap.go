package engine

import (
	"context"
	"fmt"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// The overlap's version check. Every main run starts the safety gap before the stored
// cursor (cursor.safetyGap), so it re-reads records an earlier run already wrote. When the
// sink can read the source versions it holds (connector.VersionReader), a page's re-read
// records are checked against them by key in one lookup before the page is written: a
// record whose version the sink already holds is not written (outcome SameVersion, counted
// as such); one the sink lacks, holds in another version, or that waits in the failed
// keys is written as before, so the sink's stale guard keeps deciding older against newer
// exactly as it does without the check. Records after the stored cursor, deletions, and
// backfill, Snapshot and dry runs are not checked.
//
// A sink row edited by hand while its source version stayed the same is drift: the check
// leaves it as it is (the drift check's sample reports it), where the re-upsert it replaces
// rewrote it, but only for the few records inside the gap. A backfill over the range, or a
// reset, writes every record again and re-asserts the source (Config.RewriteOverlap turns
// the check off).

// versionCheck wraps out with the overlap's version check when it applies: a main run
// writing to a sink that reads its stored versions, resuming from a stored cursor. Called
// once, after load, when r.committed is the stored cursor the run rewound from.
func (r *run) versionCheck(out output) output {
	if r.cfg.DryRun || r.cfg.RewriteOverlap || r.cfg.Range != nil || r.cfg.Snapshot || r.committed.IsZero() {
		return out
	}
	vr, ok := r.cfg.Sink.(connector.VersionReader)
	if !ok {
		return out
	}
	if vc, ok := r.cfg.Sink.(connector.VersionReadCapable); ok && !vc.CanReadVersions() {
		return out
	}
	return versionOutput{output: out, versions: vr, until: r.committed, ids: r.ids, failed: r.fk.has}
}

// versionOutput is a main run's output with the overlap's version check.
type versionOutput struct {
	output
	versions connector.VersionReader
	// until is the stored cursor the run rewound from: records at or before it were read
	// by an earlier run.
	until cursor.Cursor
	ids   cursor.IDOrder
	// failed reports a source id waiting in the failed keys: always written.
	failed func(id string) bool
}

// reread reports whether w is a record an earlier run read, whose version is checked.
func (o versionOutput) reread(w *connector.WriteRecord) bool {
	if w.Deleted || o.failed(w.SourceID) {
		return false
	}
	return cursor.Compare(cursor.Cursor{UpdatedAt: w.SourceUpdatedAt, ID: w.SourceID}, o.until, o.ids) <= 0
}

// upsert reads the stored versions of the batch's re-read records (one lookup) and writes
// the others and those whose version the sink does not hold; the rest are SameVersion.
func (o versionOutput) upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	var keys []string
	for i := range batch {
		if o.reread(&batch[i]) {
			keys = append(keys, batch[i].Key)
		}
	}
	if len(keys) == 0 {
		return o.output.upsert(ctx, batch)
	}
	held, err := o.versions.StoredVersions(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the stored source versions of %d re-read records: %w", len(keys), err)
	}
	return upsertExcept(ctx, o.output, batch, func(w *connector.WriteRecord) (connector.Result, bool) {
		if !o.reread(w) {
			return connector.Result{}, false
		}
		v, ok := held[w.Key]
		if !ok || !v.Equal(w.SourceUpdatedAt) {
			return connector.Result{}, false
		}
		return connector.Result{Outcome: connector.SameVersion}, true
	})
}
