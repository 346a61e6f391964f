package engine

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Tombstones configures delete detection through a source's "deleted since" listing
// (spec.source.http.deletedUrl).
type Tombstones struct {
	// Lister lists the records deleted since a time.
	Lister connector.TombstoneLister
	// KeyOf is the external key of the record with source id id.
	KeyOf func(id string) string
}

// applyTombstones, at the end of a complete main run, reads the records the source deleted
// since the run's start cursor (after the safety gap; everything on a first run) and hands
// their keys to the sink's KeyDeleter, each with its deletion time, so that a record
// deleted and then written again with a newer version stays. The delete valve counts them
// against the sink's keys (sinkKeyCount) first: nothing is deleted
// when it trips.
func (r *run) applyTombstones(ctx context.Context) {
	t := r.cfg.Deletes.Tombstones
	if t.Lister == nil || r.cfg.DryRun || r.cfg.Range != nil || !r.complete || r.failure != nil {
		return
	}
	deleter, ok := r.cfg.Sink.(connector.KeyDeleter)
	if !ok {
		r.fail("SetupFailed", "spec.source.http.deletedUrl: this sink cannot delete by key", nil)
		return
	}
	since := r.start.UpdatedAt
	var n int64
	for _, err := range t.Lister.DeletedSince(ctx, since) {
		if err != nil {
			r.tombstonesFailed(ctx, err)
			return
		}
		n++
	}
	if n == 0 {
		return
	}
	total, counted, err := r.sinkKeyCount(ctx)
	if err != nil {
		r.tombstonesFailed(ctx, err)
		return
	}
	extra := fmt.Sprintf(" (records deleted since %s)", since.UTC().Format(time.RFC3339Nano))
	if !counted {
		extra += "; this sink cannot count its keys, so every delete needs a confirmation"
	}
	if !r.valve("the source's deleted-records listing names", "", extra, n, total) {
		return
	}
	batch := make([]connector.KeyDelete, 0, deleteBatch)
	for ts, err := range t.Lister.DeletedSince(ctx, since) {
		if err == nil {
			batch = append(batch, connector.KeyDelete{Key: t.KeyOf(ts.ID), At: ts.DeletedAt})
			if len(batch) < cap(batch) {
				continue
			}
			err = r.deleteKeys(ctx, deleter, &batch, audit.DeletedByTombstone)
		}
		if err != nil {
			r.tombstonesFailed(ctx, err)
			return
		}
	}
	if err := r.deleteKeys(ctx, deleter, &batch, audit.DeletedByTombstone); err != nil {
		r.tombstonesFailed(ctx, err)
	}
}

// sinkKeyCount is the number of the sink's keys, for the delete valve: its own count
// (connector.KeyCounter) when it has one; else, outside Snapshot mode, its Counter over all
// time (when it can count: connector.CountCapable); else its key listing counted. A
// Counter's window misses records without a source version, which is every record of a
// Snapshot run, so it is never used then. counted false when the sink has none of these
// (every delete then needs a confirmation).
func (r *run) sinkKeyCount(ctx context.Context) (n int64, counted bool, err error) {
	if kc, ok := r.cfg.Sink.(connector.KeyCounter); ok {
		n, err = kc.CountKeys(ctx)
		return n, true, err
	}
	c, ok := r.cfg.Sink.(connector.Counter)
	if cc, capable := r.cfg.Sink.(connector.CountCapable); ok && capable && !cc.CanCount() {
		ok = false
	}
	if ok && !r.cfg.Snapshot {
		n, err = c.CountWindow(ctx, time.Unix(0, 0).UTC(), time.Unix(math.MaxInt32*4, 0).UTC())
		return n, true, err
	}
	l, ok := keyLister(r.cfg.Sink)
	if !ok {
		return 0, false, nil
	}
	for _, err := range l.Keys(ctx, "") {
		if err != nil {
			return 0, true, err
		}
		n++
	}
	return n, true, nil
}

// keyLister returns the sink's key listing, if it has a usable one.
func keyLister(sink connector.Sink) (connector.KeyLister, bool) {
	l, ok := sink.(connector.KeyLister)
	if c, capable := sink.(connector.KeyListCapable); ok && capable && !c.CanListKeys() {
		return nil, false
	}
	return l, ok
}

// tombstonesFailed ends the run on an error of the tombstone phase.
func (r *run) tombstonesFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		r.interrupt(ctx)
		return
	}
	r.fail(sourceReason(err), fmt.Sprintf("deleted records: %v", err), err)
}
