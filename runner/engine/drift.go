package engine

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// driftCheck compares the source and the sink over the window [end - Window, end], where
// end is the committed cursor's time, in two ways:
//
//   - counts: the records with UpdatedAt in the window on both sides, when the source and
//     the sink implement connector.Counter (each side leaves deleted and soft-deleted
//     records out; see the connectors);
//   - a sample of up to Sample records of the window, compared field by field (sample.go).
//
// It returns nil when the check is off (Sample 0, no window, nothing committed, a dry run)
// or when neither comparison is possible. A failure while counting or sampling is logged
// and leaves that part out: the drift check informs, it never fails a run. Records that
// failed under Skip are missing from the sink, so the counts show them as drift until they
// are retried successfully; the sample leaves them out (they are known failures).
func (r *run) driftCheck(ctx context.Context) *audit.Reconciliation {
	rc := r.cfg.Reconcile
	if rc.Sample <= 0 || rc.Window <= 0 || r.committed.IsZero() || r.cfg.Snapshot {
		// A Snapshot run has no updatedAt window: no drift check (snapshot.go).
		return nil
	}
	to := r.committed.UpdatedAt
	from := to.Add(-rc.Window)
	out := &audit.Reconciliation{WindowStart: from.UTC(), WindowEnd: to.UTC()}
	// The counts, then the sample: each side runs one statement at a time, so neither
	// side opens a second connection for the check (a backend costs the server more to
	// start than the sample's queries take); the two sides run at once.
	counted := r.countWindow(ctx, from, to, out)
	sampled := r.sampleWindow(ctx, from, to, out)
	if !counted && !sampled {
		return nil
	}
	out.Uncounted = !counted
	out.Drift = (counted && out.SourceCount != out.SinkCount) || out.Mismatched > 0
	if out.Drift {
		r.log.Info("drift check found a difference", "sourceCount", out.SourceCount, "sinkCount", out.SinkCount,
			"sampled", out.Sampled, "mismatched", out.Mismatched)
	}
	return out
}

// countWindow fills the counts and reports whether both sides were counted.
func (r *run) countWindow(ctx context.Context, from, to time.Time, out *audit.Reconciliation) bool {
	src, dst, ok := r.counters()
	if !ok {
		return false
	}
	n, m, err := countBoth(ctx, src, dst, from, to)
	if err != nil {
		var side *countError
		if errors.As(err, &side) {
			r.log.Info("drift check: counting "+side.side+" records failed; counts left out", "error", side.err.Error())
		}
		return false
	}
	out.SourceCount, out.SinkCount = n, m
	return true
}

// countBoth counts the window on both sides at once: each is a query on its own side. The
// error is a *countError naming the side.
func countBoth(ctx context.Context, src, dst connector.Counter, from, to time.Time) (n, m int64, err error) {
	var errM error
	done := make(chan struct{})
	go func() {
		defer close(done)
		m, errM = dst.CountWindow(ctx, from, to)
	}()
	n, err = src.CountWindow(ctx, from, to)
	<-done
	if err != nil {
		return 0, 0, &countError{side: "source", err: err}
	}
	if errM != nil {
		return 0, 0, &countError{side: "sink", err: errM}
	}
	return n, m, nil
}

// countError is a failed count of one side.
type countError struct {
	side string // source or sink
	err  error
}

func (e *countError) Error() string { return "count " + e.side + " records: " + e.err.Error() }
func (e *countError) Unwrap() error { return e.err }

// sampleWindow compares up to Sample records of the window field by field and reports
// whether it could. The sample is, first, the records this run wrote last (newest first),
// then, to fill it up, the first records of the window in the source's order (a
// deterministic choice: the same data gives the same sample; not for an unsorted source,
// whose listing follows its own page tokens). Each record is
// fetched again from the source (connector.Fetcher), mapped with the run's mapping and
// compared with what the sink holds for its key (connector.KeyReader), value by value
// with the type's own equality (sameValue). Not a mismatch: a record the source no longer
// has, one updated after the window's end (the next run writes it), one marked deleted
// (deletions are the deletes policy's business), one that does not map (a record error,
// reported as such), one waiting in the failed keys.
func (r *run) sampleWindow(ctx context.Context, from, to time.Time, out *audit.Reconciliation) bool {
	reader := r.out.keyReader()
	if reader == nil {
		return false
	}
	recs, ok := r.sampleRecords(ctx, from, to)
	if !ok {
		return false
	}
	type want struct {
		id string
		w  connector.WriteRecord
	}
	var wants []want
	for _, rec := range recs {
		if rec.UpdatedAt.Before(from) || rec.UpdatedAt.After(to) || r.fk.has(rec.ID) {
			continue
		}
		w, err := r.cfg.Mapper.Map(rec)
		if err != nil || w.Deleted {
			continue
		}
		wants = append(wants, want{rec.ID, w})
	}
	if len(wants) == 0 {
		return true
	}
	keys := make([]string, len(wants))
	for i, w := range wants {
		keys[i] = w.w.Key
	}
	held, err := reader.ReadByKeys(ctx, keys)
	if err != nil {
		r.log.Info("drift check: reading sampled records from the sink failed; sample left out", "error", err.Error())
		return false
	}
	byKey := make(map[string]connector.SinkRecord, len(held))
	for _, h := range held {
		byKey[h.Key] = h
	}
	for _, w := range wants {
		out.Sampled++
		h, ok := byKey[w.w.Key]
		var m audit.Mismatch
		switch {
		case !ok:
			m = audit.Mismatch{Key: w.w.Key, Missing: true}
		default:
			fields := diffFields(w.w.Values, h.Values)
			if len(fields) == 0 {
				continue
			}
			m = audit.Mismatch{Key: w.w.Key, Fields: fields}
		}
		out.Mismatched++
		if len(out.Mismatches) < audit.MaxMismatches {
			out.Mismatches = append(out.Mismatches, m)
			out.MismatchedIDs = append(out.MismatchedIDs, w.id)
		}
	}
	return true
}

// sampleRecords returns the source's current version of up to Sample records: those this
// run wrote last, then the first of the window. It reports false when the source cannot
// fetch by id or reading failed (logged).
func (r *run) sampleRecords(ctx context.Context, from, to time.Time) ([]connector.Record, bool) {
	f, ok := r.cfg.Source.(connector.Fetcher)
	if !ok {
		return nil, false
	}
	if fc, ok := r.cfg.Source.(connector.FetchCapable); ok && !fc.CanFetchByID() {
		return nil, false
	}
	want := r.cfg.Reconcile.Sample
	ids := r.recent.newestFirst()
	var recs []connector.Record
	if len(ids) > 0 {
		got, err := f.FetchByIDs(ctx, ids)
		if err != nil {
			r.log.Info("drift check: fetching sampled records from the source failed; sample left out", "error", err.Error())
			return nil, false
		}
		recs = got
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	after := cursor.Cursor{UpdatedAt: from}
	// An unsorted source lists by its own page tokens: the sample keeps to this run's writes.
	for len(seen) < want && !r.cfg.Unsorted {
		page, err := r.cfg.Source.ReadPage(ctx, after, want)
		if err != nil {
			r.log.Info("drift check: reading the window from the source failed; sample left out", "error", err.Error())
			return nil, false
		}
		for _, rec := range page.Records {
			if len(seen) >= want || rec.UpdatedAt.After(to) {
				break
			}
			if !seen[rec.ID] {
				seen[rec.ID] = true
				recs = append(recs, rec)
			}
		}
		if !page.More || len(page.Records) == 0 {
			break
		}
		last := page.Records[len(page.Records)-1]
		if last.UpdatedAt.After(to) {
			break
		}
		after = last.Cursor()
	}
	return recs, true
}

// diffFields names the fields of want (the mapped source values) whose value differs from
// got's (what the sink holds; a field the sink does not hold is null), sorted by name.
func diffFields(want, got map[string]any) []string {
	var out []string
	for f, v := range want {
		if !connector.SameValue(v, got[f]) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// recentIDs keeps the source ids of the last n records a run wrote, in bounded memory.
type recentIDs struct {
	ids  []string
	next int
	full bool
}

func newRecentIDs(n int) *recentIDs {
	if n <= 0 {
		return nil
	}
	return &recentIDs{ids: make([]string, n)}
}

// add notes id as written; a nil recentIDs keeps nothing.
func (q *recentIDs) add(id string) {
	if q == nil {
		return
	}
	q.ids[q.next] = id
	q.next++
	if q.next == len(q.ids) {
		q.next, q.full = 0, true
	}
}

// newestFirst returns the distinct ids kept, the last written first.
func (q *recentIDs) newestFirst() []string {
	if q == nil {
		return nil
	}
	n := q.next
	if q.full {
		n = len(q.ids)
	}
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		id := q.ids[(q.next-i+len(q.ids))%len(q.ids)]
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// counters returns the two sides' counters when both can count.
func (r *run) counters() (connector.Counter, connector.Counter, bool) {
	src, ok := r.cfg.Source.(connector.Counter)
	if !ok {
		return nil, nil, false
	}
	if cc, ok := r.cfg.Source.(connector.CountCapable); ok && !cc.CanCount() {
		return nil, nil, false
	}
	dst := r.out.counter()
	if dst == nil {
		return nil, nil, false
	}
	return src, dst, true
}
