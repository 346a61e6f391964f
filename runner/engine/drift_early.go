package engine

import (
	"context"
	"errors"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// The drift check's counts, early. A main run resuming from a stored cursor counts the
// window ending at the stored cursor's time on both sides while it checks its overlap
// (earlyCount), rather than after it: a rerun with nothing new ends where it started and
// writes nothing, so these are the counts the end of the run would take, and the run does
// not wait for them in turn. Any other run (the cursor moved, or something was written or
// deleted) counts again at the end, as before. Records the source commits during the run
// inside the window may be counted or not either way: the counts are as of some instant
// of the run. A source that says cheaply whether anything follows the stored cursor
// (connector.AfterProber) is asked first: when something does, the run reads on and
// counts at its end only, so the early counts are not taken at all (a 1 % change moved to
// new times would otherwise count the window twice).

// earlyCount is the counts started at the beginning of a run.
type earlyCount struct {
	to     time.Time // the window's end: the stored cursor's time
	cancel context.CancelFunc
	done   chan struct{}
	// Set before done is closed.
	source, sink int64
	err          error
}

// startEarlyCount starts the counts of the window ending at the stored cursor, when the
// drift check will count (see countWindow) and the run resumes a main cursor.
func (r *run) startEarlyCount(ctx context.Context) {
	rc := r.cfg.Reconcile
	if rc.Sample <= 0 || rc.Window <= 0 || r.cfg.Snapshot || r.cfg.DryRun || r.cfg.Range != nil || r.committed.IsZero() {
		return
	}
	src, dst, ok := r.counters()
	if !ok {
		return
	}
	stored := r.committed
	to := stored.UpdatedAt
	cctx, cancel := context.WithCancel(ctx)
	e := &earlyCount{to: to, cancel: cancel, done: make(chan struct{})}
	prober, _ := r.cfg.Source.(connector.AfterProber)
	go func() {
		defer close(e.done)
		if prober != nil {
			// A record after the stored cursor moves the cursor: the end of the run counts
			// another window, so these counts would be thrown away. (The probe failing
			// proves nothing: count.)
			if more, err := prober.HasAfter(cctx, stored); err == nil && more {
				e.err = errReadsOn
				return
			}
		}
		e.source, e.sink, e.err = countBoth(cctx, src, dst, to.Add(-rc.Window), to)
	}()
	r.early = e
}

// errReadsOn is why a run does not count early: the source has records after the stored
// cursor.
var errReadsOn = errors.New("records follow the stored cursor: the drift check counts at the end of the run")

// takeEarlyCount returns the early counts when they count the window [from, to] as the
// end of the run would: the same end, and the run wrote and deleted nothing.
func (r *run) takeEarlyCount(to time.Time) (source, sink int64, ok bool) {
	e := r.early
	if e == nil || !e.to.Equal(to) {
		return 0, 0, false
	}
	rec := r.rec.Snapshot()
	if rec.Upserted != 0 || rec.Unchanged != 0 || rec.Deleted != 0 {
		return 0, 0, false
	}
	<-e.done
	if e.err != nil {
		return 0, 0, false
	}
	return e.source, e.sink, true
}

// outdateEarlyCount stops the early counts once the run has read a record after the
// window's end: the run's cursor then moves past it (or the run fails and checks nothing),
// so the end of the run counts another window and these counts would be thrown away; the
// server stops counting now rather than alongside the run's writes. (A 1 % change moved
// to new times: the rerun's early counts are dropped with the first page after the
// stored cursor.)
func (r *run) outdateEarlyCount(recs []connector.Record) {
	e := r.early
	if e == nil {
		return
	}
	for i := range recs {
		if recs[i].UpdatedAt.After(e.to) {
			e.cancel()
			return
		}
	}
}

// endEarlyCount stops the early counts if they still run and waits for them: no query
// outlives the run.
func (r *run) endEarlyCount() {
	if r.early == nil {
		return
	}
	r.early.cancel()
	<-r.early.done
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
