package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/keymerge"
)

// DefaultMaxDeleteFraction is the delete valve's bound when Deletes.MaxFraction is 0 in a
// Config built by hand (the API's default is spec.deletes.maxFractionPercent: 5).
const DefaultMaxDeleteFraction = 0.05

// Deletes configures full key reconciliation (spec.deletes.fullReconcile) and the delete
// valve (spec.deletes.maxFractionPercent). At the end of a complete main run that is due,
// every key of SourceKeys and every key of the sink (connector.KeyLister) are merged in key
// order in bounded memory (package keymerge); the sink's keys the source lacks are handed
// to the sink's connector.KeyDeleter, which deletes or marks them per its delete mode.
// When both listings digest their keys (connector.KeyDigester) and the digests are equal,
// nothing is listed (deletes_digest.go).
//
// The valve: when those keys are more than MaxFraction of the sink's keys, nothing is
// deleted and the run fails with reason DeleteValve and a message naming the counts and
// a confirmation token; a run given that token (Confirm) deletes them. Records are synced
// either way.
type Deletes struct {
	// SourceKeys lists the source's external keys (the mapped key of each source record),
	// ascending in byte order; nil: full key reconciliation is not possible.
	SourceKeys connector.KeyLister
	// EveryRuns > 0 reconciles at the end of every EveryRuns-th complete main run (counted
	// in the checkpoint's RunsSinceFullReconcile); 0: only when Force is set.
	EveryRuns int
	// Force reconciles at the end of this run (an on-demand request).
	Force bool
	// MaxFraction of the sink's keys a run may delete without Confirm, in [0, 1]; 0 means
	// DefaultMaxDeleteFraction. A negative value allows no unconfirmed delete at all.
	MaxFraction float64
	// Confirm is the token a refused run printed: deletes that match it are done.
	Confirm string
	// Tombstones, when its Lister is set, deletes the records the source lists as deleted
	// (tombstones.go), within the same valve.
	Tombstones Tombstones
}

// on reports whether full key reconciliation is configured at all.
func (d Deletes) on() bool { return d.EveryRuns > 0 || d.Force }

// due reports whether this run reconciles, given the complete main runs since the last
// reconciliation (this one excluded).
func (d Deletes) due(since int) bool {
	return d.Force || d.EveryRuns > 0 && since+1 >= d.EveryRuns
}

// limit is the most keys of total a run deletes without confirmation.
func (d Deletes) limit(total int64) int64 {
	f := d.MaxFraction
	switch {
	case f == 0:
		f = DefaultMaxDeleteFraction
	case f < 0:
		return 0
	}
	return int64(f * float64(total))
}

// ConfirmToken is the token a run refused by the delete valve prints: it names the job and
// the counts, so that a confirmation given for one situation does not pass another.
func ConfirmToken(job string, absent, total int64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", job, absent, total))
	return fmt.Sprintf("%d-of-%d-%s", absent, total, hex.EncodeToString(sum[:4]))
}

// deleteBatch bounds the keys handed to KeyDeleter at once.
const deleteBatch = 500

// keepAbsentKeys and keepAbsentBytes bound the absent keys the counting pass of full key
// reconciliation keeps, to delete them without a second listing of every key.
const (
	keepAbsentKeys  = 8 * deleteBatch
	keepAbsentBytes = 1 << 20
)

// fullReconcile runs full key reconciliation when it is due (a complete main run without a
// failure, not a dry run) and keeps the count of runs since the last one.
func (r *run) fullReconcile(ctx context.Context) {
	d := r.cfg.Deletes
	if r.cfg.DryRun || r.cfg.Range != nil || !r.complete || r.failure != nil || !d.on() {
		return
	}
	due := d.due(r.st.RunsSinceFullReconcile)
	r.st.RunsSinceFullReconcile++ // reset to 0 when a reconciliation completes
	r.dirty = true
	if !due {
		return
	}
	lister, okL := keyLister(r.cfg.Sink)
	deleter, okD := r.cfg.Sink.(connector.KeyDeleter)
	if d.SourceKeys == nil || !okL || !okD {
		r.fail(runcontract.ReasonSetupFailed, "full key reconciliation (spec.deletes.fullReconcile) needs a source that lists its keys "+
			"and a sink that lists and deletes keys; this source or sink cannot", nil)
		return
	}
	at := r.cfg.Clock.Now().UTC()
	start := time.Now()

	// Equal key digests: nothing is absent from the source, no key is listed
	// (deletes_digest.go).
	if ctx.Err() == nil && r.sameKeys(ctx, d.SourceKeys, lister) {
		r.reconciled(start)
		return
	}

	// Pass 1 counts: nothing is deleted before the valve has seen the whole picture. It
	// keeps the first absent keys (bounded: keepAbsentKeys, keepAbsentBytes); when those
	// are all of them, they are deleted without listing the keys again.
	var total, absent, sourceKeys int64
	var kept []connector.KeyDelete
	keptBytes, keeping := 0, true
	err := keymerge.Keys(ctx, d.SourceKeys.Keys(ctx, ""), lister.Keys(ctx, ""), func(k string, s keymerge.Side) error {
		switch s {
		case keymerge.SinkOnly:
			absent++
			total++
			if keeping = keeping && len(kept) < keepAbsentKeys && keptBytes+len(k) <= keepAbsentBytes; keeping {
				// A listed key may share its memory with the keys listed around it: keep a copy.
				kept = append(kept, connector.KeyDelete{Key: strings.Clone(k), At: at})
				keptBytes += len(k)
			}
		case keymerge.Both:
			total++
			sourceKeys++
		case keymerge.SourceOnly:
			sourceKeys++
		}
		return nil
	})
	if err != nil {
		r.reconcileFailed(ctx, err)
		return
	}
	r.log.Info("full key reconciliation", "sourceKeys", sourceKeys, "sinkKeys", total, "absentFromSource", absent)
	if absent == 0 {
		r.reconciled(start)
		return
	}
	if !r.valve("full key reconciliation found", "absent from the source", fmt.Sprintf(" (%d source keys)", sourceKeys), absent, total) {
		return
	}

	if int64(len(kept)) == absent {
		for len(kept) > 0 {
			batch := kept[:min(deleteBatch, len(kept))]
			kept = kept[len(batch):]
			if err := r.deleteKeys(ctx, deleter, &batch, audit.DeletedAbsent); err != nil {
				r.reconcileFailed(ctx, err)
				return
			}
		}
		r.reconciled(start)
		return
	}
	kept = nil

	// Pass 2 deletes, never more than pass 1 counted (the source may change in between).
	var done int64
	batch := make([]connector.KeyDelete, 0, deleteBatch)
	err = keymerge.Keys(ctx, d.SourceKeys.Keys(ctx, ""), lister.Keys(ctx, ""), func(k string, s keymerge.Side) error {
		if s != keymerge.SinkOnly {
			return nil
		}
		if done++; done > absent {
			return errMoreAbsent
		}
		// A listed key may share its memory with the keys listed around it: keep a copy.
		batch = append(batch, connector.KeyDelete{Key: strings.Clone(k), At: at})
		if len(batch) == cap(batch) {
			return r.deleteKeys(ctx, deleter, &batch, audit.DeletedAbsent)
		}
		return nil
	})
	if err == nil {
		err = r.deleteKeys(ctx, deleter, &batch, audit.DeletedAbsent)
	}
	if err != nil {
		r.reconcileFailed(ctx, err)
		return
	}
	r.reconciled(start)
}

// valve reports whether n deletes out of the sink's total keys may go ahead: within
// Deletes.MaxFraction, or confirmed with the token for these counts. Otherwise it fails
// the run (reason DeleteValve) with a message naming the counts and how to confirm.
func (r *run) valve(found, what, extra string, n, total int64) bool {
	d := r.cfg.Deletes
	token := ConfirmToken(r.cfg.Job, n, total)
	limit := d.limit(total)
	if n <= limit || d.Confirm == token {
		return true
	}
	r.fail(runcontract.ReasonDeleteValve, fmt.Sprintf(
		"%s %d of the sink's %d keys %s%s, more than the %d "+
			"(spec.deletes.maxFractionPercent) a run deletes unconfirmed: nothing was deleted, records were synced. "+
			"If the source really lost these records, confirm with: kubectl annotate syncjob %s %s=%s %s=\"$(date +%%s)\" --overwrite "+
			"(locally: runner sync --full-reconcile --confirm-deletes %s)",
		found, n, total, what, extra, limit, r.cfg.Job, runcontract.ConfirmDeletesAnnotation, token,
		runcontract.ReconcileRequestedAnnotation, token), nil)
	return false
}

// deleteKeys hands a batch to the sink's KeyDeleter, records each deletion (why: an
// audit.Deleted* reason) and empties the batch.
func (r *run) deleteKeys(ctx context.Context, deleter connector.KeyDeleter, batch *[]connector.KeyDelete, why string) error {
	b := *batch
	if len(b) == 0 {
		return nil
	}
	res, err := deleter.DeleteKeys(ctx, b)
	if err != nil {
		return err
	}
	for i, d := range b {
		switch res[i].Outcome {
		case connector.Written:
			r.rec.Deleted("", d.Key, why)
		case connector.Stale: // the sink holds a version newer than the deletion
			r.rec.AddOutcome("", d.Key, connector.Stale, false)
		}
	}
	*batch = b[:0]
	return nil
}

// errMoreAbsent stops the deleting pass when it finds more keys to delete than the
// counting pass approved.
var errMoreAbsent = errors.New("more keys are absent from the source than when they were counted; the rest is left for the next reconciliation")

// reconciled resets the count of runs since the last full key reconciliation.
func (r *run) reconciled(start time.Time) {
	r.log.Info("full key reconciliation done", "deleted", r.rec.Snapshot().Deleted, "took", time.Since(start).String())
	r.st.RunsSinceFullReconcile = 0
	r.dirty = true
}

// reconcileFailed ends the run on an error of full key reconciliation.
func (r *run) reconcileFailed(ctx context.Context, err error) {
	switch {
	case ctx.Err() != nil:
		r.interrupt(ctx)
	case errors.Is(err, errMoreAbsent):
		r.fail(runcontract.ReasonDeleteValve, "full key reconciliation: "+err.Error(), err)
	default:
		r.fail(runcontract.ReasonSinkError, fmt.Sprintf("full key reconciliation: %v", err), err)
	}
}

// mappedKeys lists a source's external keys from one of its fields: prefix + the field's
// text form, in the field's byte order (a constant prefix keeps it).
type mappedKeys struct {
	src           connector.FieldLister
	field, prefix string
}

// PrefixedKeys adapts a source listing field (connector.FieldLister) into the list of the
// external keys prefix + value, for a key mapped as `"<prefix>" + string(record.<field>)`.
// When src also digests its values (connector.FieldDigester), the list digests its keys
// (connector.KeyDigester).
func PrefixedKeys(src connector.FieldLister, field, prefix string) connector.KeyLister {
	m := mappedKeys{src: src, field: field, prefix: prefix}
	if _, ok := src.(connector.FieldDigester); ok {
		return digestKeys{m}
	}
	return m
}

// Keys implements connector.KeyLister.
func (m mappedKeys) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	raw := ""
	if after != "" {
		if len(after) < len(m.prefix) || after[:len(m.prefix)] != m.prefix {
			return func(yield func(string, error) bool) {
				yield("", fmt.Errorf("key %q does not start with %q", after, m.prefix))
			}
		}
		raw = after[len(m.prefix):]
	}
	if m.prefix == "" {
		return m.src.FieldValues(ctx, m.field, raw)
	}
	if p, ok := m.src.(connector.PrefixedFieldLister); ok {
		return p.PrefixedFieldValues(ctx, m.field, m.prefix, raw)
	}
	return func(yield func(string, error) bool) {
		// prefix + value for millions of values: made in runs of about prefixRunBytes,
		// each run one string (one allocation) that its keys are substrings of.
		var buf []byte
		var ends []int
		flush := func() bool {
			s, start := string(buf), 0
			for _, e := range ends {
				if !yield(s[start:e], nil) {
					return false
				}
				start = e
			}
			buf, ends = buf[:0], ends[:0]
			return true
		}
		for v, err := range m.src.FieldValues(ctx, m.field, raw) {
			if err != nil {
				if flush() {
					yield("", err)
				}
				return
			}
			buf = append(append(buf, m.prefix...), v...)
			ends = append(ends, len(buf))
			if len(buf) >= prefixRunBytes && !flush() {
				return
			}
		}
		flush()
	}
}

// prefixRunBytes is the size of the runs of prefixed keys: small enough that a key kept
// (to delete it) keeps little else alive.
const prefixRunBytes = 8 << 10
