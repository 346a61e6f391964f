package engine

import (
	"context"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// The overlap's version digests. Before the version scan (overlapscan.go) reads the safety
// gap's positions page by page, the source digests the pairs (external key, updatedAt) of
// its records whose updatedAt lies in the gap's time range and the sink digests the pairs
// (key, stored source version) it holds in that range, both at once, each in one statement
// (connector.VersionDigester, connector.StoredVersionDigester). Equal digests mean the
// sink holds exactly the version of every record of the gap, which is what the scan would
// confirm record by record: the gap is then confirmed SameVersion as a whole, and the
// main loop reads after the stored cursor. Anything else — digests that differ (a late
// commit, a record that failed or was filtered, a hand-deleted sink row, a record at the
// stored cursor's time after it), a side that cannot digest, an error — goes on to the
// scan, which decides record by record as before.
//
// The range is by time alone, from the gap's start to the stored cursor's time, both
// included: it holds every position the scan would check, and a few more at its ends (at
// the same times), which only make equality harder. The gap is not digested while failed
// keys wait (they are written again whatever the sink holds), and the seeds are drawn
// afresh for each run, so two different sets of pairs that collided once are told apart
// the next time (the connector documents the bound).

// SourceKey says how the external key is made from a source record: Prefix followed by
// the text of its field Field.
type SourceKey struct {
	Field, Prefix string
}

// sameVersionsByDigest reports whether the digests of the gap's source versions and of the
// versions the sink holds in the gap are equal; when they are, the gap's records are
// counted as read and SameVersion. false: the gap is scanned.
func (r *run) sameVersionsByDigest(ctx context.Context, sc overlapScan) bool {
	k := r.cfg.OverlapKey
	if k == nil || r.fk.len() > 0 {
		return false
	}
	ds, ok1 := r.cfg.Source.(connector.VersionDigester)
	dd, ok2 := sc.versions.(connector.StoredVersionDigester)
	if !ok1 || !ok2 {
		return false
	}
	start := time.Now()
	from, to := r.start.UpdatedAt, sc.until.UpdatedAt
	a, b, err := digestBoth(ctx, func(ctx context.Context, seeds [2]int64) (connector.KeyDigest, error) {
		return ds.VersionDigest(ctx, k.Field, k.Prefix, from, to, seeds)
	}, func(ctx context.Context, seeds [2]int64) (connector.KeyDigest, error) {
		return dd.StoredVersionDigest(ctx, from, to, seeds)
	})
	if err != nil {
		r.log.Info("overlap: no version digest, scanning the gap", "error", err.Error())
		return false
	}
	if !a.Equal(b) {
		r.log.Info("overlap: the version digests differ, scanning the gap",
			"sourceRecords", a.Keys, "sinkRecords", b.Keys, "took", time.Since(start).String())
		return false
	}
	r.rec.AddRead(int(a.Keys))
	r.rec.AddSameVersions(a.Keys)
	r.log.Info("overlap confirmed by version digests", "records", a.Keys, "took", time.Since(start).String())
	return true
}
