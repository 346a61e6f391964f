package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// run is the state of one run. Only the writer goroutine (the one calling execute) touches
// it; the read-ahead goroutine only calls Source.ReadPage and Mapper.Map (never two calls
// at once: one read-ahead runs at a time, and the writer maps nothing while it runs) and
// sends its result.
type run struct {
	cfg Config
	log logr.Logger
	ids cursor.IDOrder
	rec *audit.Recorder

	loaded    bool                   // the checkpoint was loaded: saving is allowed
	st        runcontract.Checkpoint // the last stored (or loaded) state
	stored    *cursor.Cursor         // the durably stored main cursor
	fk        *failedKeys
	start     cursor.Cursor // where reading starts
	committed cursor.Cursor // the committed position (main or backfill); zero: none
	dirty     bool          // committed or fk changed since the last save
	lastSave  time.Time
	conflict  bool // the store reported ErrConflict: no further saves
	complete  bool // the source was read to the end (or to the backfill's To)

	failure *RunError // first reason the run stops; nil while it goes on

	// unsorted sources only
	seen          map[string]time.Time // newest UpdatedAt per id seen in this run
	maxSeen       cursor.Cursor
	pendingFailed *failedKeys // failed under Skip, recorded at the end of a complete run

	plan *Plan

	parent context.Context // the caller's context: cancelled on a signal, not on a lost lock
}

func newRun(cfg Config) *run {
	r := &run{
		cfg: cfg,
		log: cfg.Logger.WithValues("job", cfg.Job, "runId", cfg.RunID),
		ids: cfg.Source.CompareIDs,
		rec: audit.New(audit.Options{
			Out: cfg.AuditOut, Now: cfg.Clock.Now, Job: cfg.Job, RunID: cfg.RunID, Trigger: cfg.Trigger,
		}),
		fk: newFailedKeys(nil, runcontract.MaxFailedKeys),
	}
	if cfg.Unsorted {
		r.seen = map[string]time.Time{}
		r.pendingFailed = newFailedKeys(nil, runcontract.MaxFailedKeys)
	}
	if cfg.DryRun {
		r.plan = &Plan{}
	}
	return r
}

// execute runs the phases in order; ctx is the run's context (cancelled on SIGTERM or when
// the lock is lost), parent the caller's, used for the values of the final fresh context.
func (r *run) execute(ctx, parent context.Context) (Result, error) {
	r.parent = parent
	if r.load(ctx) {
		if !r.cfg.DryRun {
			r.retryFailed(ctx)
		}
		if r.failure == nil {
			r.readAll(ctx)
		}
	}
	return r.finish(ctx, parent)
}

// load reads the checkpoint and decides where the run starts. It reports whether the run
// can go on.
func (r *run) load(ctx context.Context) bool {
	r.lastSave = r.cfg.Clock.Now()
	if r.cfg.Store != nil {
		st, err := r.cfg.Store.Load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				r.interrupt(ctx)
			} else {
				r.fail(runcontract.ReasonCheckpointError, fmt.Sprintf("load checkpoint: %v", err), err)
			}
			return false
		}
		r.st = st
		r.loaded = true
	}
	r.stored = r.st.Cursor
	r.fk = newFailedKeys(r.st.FailedKeys, runcontract.MaxFailedKeys)

	if br := r.cfg.Range; br != nil {
		from := cursor.Cursor{UpdatedAt: br.From.UTC()}
		r.start = from
		bf := r.st.Backfills[br.Key]
		if bf.Cursor != nil {
			r.committed = *bf.Cursor
			if cursor.Compare(*bf.Cursor, from, r.ids) > 0 {
				r.start = *bf.Cursor
			}
		}
		r.rec.SetCursorStart(r.start)
		if bf.Done {
			r.complete = true
			return false
		}
		return true
	}
	switch {
	case r.st.Cursor != nil:
		r.committed = *r.st.Cursor
		r.start = r.st.Cursor.Rewind(r.cfg.SafetyGap)
	case !r.cfg.StartAt.IsZero():
		r.start = cursor.Cursor{UpdatedAt: r.cfg.StartAt.UTC()}
	default:
		r.start = cursor.Beginning
	}
	r.rec.SetCursorStart(r.start)
	return true
}

// retryFailed fetches the records that failed in earlier runs (when the source can fetch by
// id), maps and upserts them. Those that succeed, and those the source no longer has, leave
// the failed keys; those that fail again stay and are counted as record errors (policy Halt
// does not stop on them, since no cursor depends on them; MaxErrors does). The cursor does
// not move.
func (r *run) retryFailed(ctx context.Context) {
	f, ok := r.cfg.Source.(connector.Fetcher)
	if !ok || r.fk.len() == 0 {
		return
	}
	keys := r.fk.list()
	r.log.V(1).Info("retrying failed records", "count", len(keys))
	for lo := 0; lo < len(keys); lo += r.cfg.PageSize {
		if ctx.Err() != nil {
			r.interrupt(ctx)
			return
		}
		chunk := keys[lo:min(lo+r.cfg.PageSize, len(keys))]
		recs, err := f.FetchByIDs(ctx, chunk)
		if err != nil {
			r.stopOn(ctx, sourceReason(err), fmt.Sprintf("fetch %d failed records by id: %v", len(chunk), err), err)
			return
		}
		r.rec.AddRead(len(recs))
		found := make(map[string]struct{}, len(recs))
		for _, rec := range recs {
			found[rec.ID] = struct{}{}
		}
		for _, id := range chunk {
			if _, ok := found[id]; !ok && r.fk.remove(id) {
				r.dirty = true
			}
		}
		batch := make([]connector.WriteRecord, 0, len(recs))
		from := make([]connector.Record, 0, len(recs))
		for _, rec := range recs {
			w, err := r.cfg.Mapper.Map(rec)
			if err != nil {
				r.rec.Fail(mapError(rec, err), rec.Cursor())
				continue
			}
			batch = append(batch, w)
			from = append(from, rec)
		}
		if len(batch) > 0 {
			results, err := r.upsert(ctx, batch)
			if err != nil {
				r.stopOn(ctx, sinkReason(err), fmt.Sprintf("upsert %d retried records: %v", len(batch), err), err)
				return
			}
			for j, res := range results {
				if res.Outcome == connector.Failed {
					r.rec.Fail(sinkError(from[j], res.Err), from[j].Cursor())
					continue
				}
				r.rec.AddOutcome(from[j].ID, res.Outcome, batch[j].Deleted)
				if r.fk.remove(from[j].ID) {
					r.dirty = true
				}
			}
		}
		if r.tooManyErrors() {
			r.fail(runcontract.ReasonTooManyErrors, fmt.Sprintf("more than %d record errors while retrying failed records", r.cfg.MaxErrors), nil)
			return
		}
		r.maybeSave(ctx)
		if r.failure != nil {
			return
		}
	}
}

// pageResult is one page read ahead, and mapped.
type pageResult struct {
	after cursor.Cursor
	page  connector.Page
	err   error
	// mapped holds the mapping of each of page.Records, by index. It is only data: the
	// writer records a mapping error, in order, when it processes that record, and
	// ignores the mappings of records it does not process (a halt before them, records
	// past a backfill's range, records already seen in an unsorted run).
	mapped mapResults
}

// mapResults are the mappings of a page's records: w[i] and err[i] are what Map returned
// for record i (err is nil when no record failed).
type mapResults struct {
	w   []connector.WriteRecord
	err []error
}

// slice returns the mappings of records [lo, hi).
func (m mapResults) slice(lo, hi int) mapResults {
	out := mapResults{w: m.w[lo:hi]}
	if m.err != nil {
		out.err = m.err[lo:hi]
	}
	return out
}

// errAt returns the mapping error of record i.
func (m mapResults) errAt(i int) error {
	if m.err == nil {
		return nil
	}
	return m.err[i]
}

// readAhead starts reading the page after `after`, and mapping its records, and returns
// the channel its result arrives on. The channel has room for the result, so the reader
// never blocks.
func (r *run) readAhead(ctx context.Context, after cursor.Cursor) chan pageResult {
	ch := make(chan pageResult, 1)
	go func() {
		p, err := r.cfg.Source.ReadPage(ctx, after, r.cfg.PageSize)
		pr := pageResult{after: after, page: p, err: err}
		if err == nil {
			pr.mapped.w = make([]connector.WriteRecord, len(p.Records))
			for i, rec := range p.Records {
				w, err := r.cfg.Mapper.Map(rec)
				if err != nil {
					if pr.mapped.err == nil {
						pr.mapped.err = make([]error, len(p.Records))
					}
					pr.mapped.err[i] = err
					continue
				}
				pr.mapped.w[i] = w
			}
		}
		ch <- pr
	}()
	return ch
}

// readAll is the main loop. The next page is read while the current one is mapped and
// written: at most one page ahead. A page is only taken from the reader once the previous
// one is committed, so a read error or a cancellation never loses a committed position.
func (r *run) readAll(ctx context.Context) {
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	pending := r.readAhead(readCtx, r.start)
	defer func() {
		if pending != nil { // abandon the read ahead, and wait so no read outlives the run
			cancelRead()
			<-pending
		}
	}()
	for pending != nil {
		pr := <-pending
		pending = nil
		if ctx.Err() != nil {
			r.interrupt(ctx)
			return
		}
		if pr.err != nil {
			r.stopOn(ctx, sourceReason(pr.err), fmt.Sprintf("source: %v", pr.err), pr.err)
			return
		}
		recs, mapped, last, err := r.checkPage(pr)
		if err != nil {
			r.fail(runcontract.ReasonSourceError, err.Error(), err)
			return
		}
		if !last {
			next := r.start // an unsorted source follows its own page tokens
			if !r.cfg.Unsorted {
				next = pr.page.Records[len(pr.page.Records)-1].Cursor()
			}
			pending = r.readAhead(readCtx, next)
		}
		r.rec.AddRead(len(recs))
		if !r.writePage(ctx, recs, mapped) {
			return
		}
		r.maybeSave(ctx)
		if r.failure != nil {
			return
		}
		if last {
			r.complete = true
		}
	}
}

// checkPage validates a page read after pr.after and trims it to a backfill's range. It
// returns the records to process, their mappings, and whether this is the last page of
// the run.
func (r *run) checkPage(pr pageResult) ([]connector.Record, mapResults, bool, error) {
	recs, mapped := pr.page.Records, pr.mapped
	last := !pr.page.More
	if r.cfg.Unsorted {
		if len(recs) == 0 && pr.page.More {
			return nil, mapResults{}, false, fmt.Errorf("read page after %s: unsorted source returned an empty page with more to come", pr.after)
		}
	} else {
		if len(recs) == 0 {
			last = true
		}
		prev := pr.after
		for _, rec := range recs {
			if cursor.Compare(rec.Cursor(), prev, r.ids) <= 0 {
				return nil, mapResults{}, false, fmt.Errorf("read page after %s: record %s is not after %s: the source is not ascending by (updatedAt, id)", pr.after, rec.Cursor(), prev)
			}
			prev = rec.Cursor()
		}
	}
	if br := r.cfg.Range; br != nil {
		if !r.cfg.Unsorted {
			for i, rec := range recs {
				if !rec.UpdatedAt.Before(br.To) { // everything after is past the range too
					return recs[:i], mapped.slice(0, i), true, nil
				}
			}
		} else {
			kept := make([]connector.Record, 0, len(recs))
			keptMapped := mapResults{w: make([]connector.WriteRecord, 0, len(recs)), err: make([]error, 0, len(recs))}
			for i, rec := range recs {
				if rec.UpdatedAt.Before(br.To) {
					kept = append(kept, rec)
					keptMapped.w = append(keptMapped.w, mapped.w[i])
					keptMapped.err = append(keptMapped.err, mapped.errAt(i))
				}
			}
			recs, mapped = kept, keptMapped
		}
	}
	return recs, mapped, last, nil
}

// failedAt is a record of the page that failed.
type failedAt struct {
	idx int
	id  string
}

// writePage takes one page's mappings (mapped[i] is the mapping of recs[i]), upserts it
// and commits what the sink confirmed. It reports whether the run goes on.
func (r *run) writePage(ctx context.Context, recs []connector.Record, mapped mapResults) bool {
	// haltAt bounds the committed prefix of the page: records [0, haltAt) are confirmed or
	// recorded as failed under Skip.
	haltAt, haltReason := len(recs), ""
	var failed []failedAt
	// The batch is built in place in mapped.w (owned by this page): record i's mapping
	// moves to the batch's end, at an index <= i, so no unread mapping is overwritten.
	batch := mapped.w[:0]
	srcIdx := make([]int, 0, len(recs))
	for i, rec := range recs {
		if r.seen != nil {
			if t, ok := r.seen[rec.ID]; ok && !rec.UpdatedAt.After(t) {
				continue // an older or equal version of a record already seen this run
			}
			r.seen[rec.ID] = rec.UpdatedAt
		}
		w, err := mapped.w[i], mapped.errAt(i)
		if err != nil {
			r.rec.Fail(mapError(rec, err), rec.Cursor())
			failed = append(failed, failedAt{i, rec.ID})
			if reason := r.haltReason(); reason != "" {
				haltAt, haltReason = i, reason
				break
			}
			continue
		}
		batch = append(batch, w)
		srcIdx = append(srcIdx, i)
	}

	if r.plan != nil {
		r.plan.Writes += int64(len(batch))
		for _, w := range batch {
			if len(r.plan.Records) >= r.cfg.PreviewLimit {
				break
			}
			r.plan.Records = append(r.plan.Records, w)
		}
	} else if len(batch) > 0 {
		results, err := r.upsert(ctx, batch)
		if err != nil {
			r.stopOn(ctx, sinkReason(err), fmt.Sprintf("upsert page of %d records after %s: %v",
				len(batch), r.committed, err), err)
			return false
		}
		for j, res := range results {
			i := srcIdx[j]
			if res.Outcome != connector.Failed {
				r.rec.AddOutcome(recs[i].ID, res.Outcome, batch[j].Deleted)
				if r.fk.remove(recs[i].ID) {
					r.dirty = true
				}
				continue
			}
			r.rec.Fail(sinkError(recs[i], res.Err), recs[i].Cursor())
			failed = append(failed, failedAt{i, recs[i].ID})
			if i < haltAt {
				if reason := r.haltReason(); reason != "" {
					haltAt, haltReason = i, reason
				}
			}
		}
	}

	// Commit the confirmed prefix: failures inside it were recorded under Skip.
	keys := r.fk
	if r.cfg.Unsorted {
		keys = r.pendingFailed
	}
	for _, f := range failed {
		if f.idx < haltAt && keys.add(f.id) {
			r.dirty = r.dirty || !r.cfg.Unsorted
		}
	}
	if r.cfg.Unsorted {
		for _, rec := range recs[:haltAt] {
			if cursor.Compare(rec.Cursor(), r.maxSeen, r.ids) > 0 {
				r.maxSeen = rec.Cursor()
			}
		}
	} else if haltAt > 0 {
		r.advance(recs[haltAt-1].Cursor())
	}
	if haltReason != "" {
		msg := fmt.Sprintf("record %s failed; the cursor stops before it (policy Halt)", recs[haltAt].ID)
		if haltReason == runcontract.ReasonTooManyErrors {
			msg = fmt.Sprintf("more than %d record errors; the cursor stops before record %s", r.cfg.MaxErrors, recs[haltAt].ID)
		}
		r.fail(haltReason, msg, nil)
		return false
	}
	return true
}

// upsert writes a batch and checks the sink kept its side of the contract.
func (r *run) upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	results, err := r.cfg.Sink.Upsert(ctx, batch)
	if err != nil {
		return nil, err
	}
	if len(results) != len(batch) {
		return nil, fmt.Errorf("sink returned %d results for %d records", len(results), len(batch))
	}
	return results, nil
}

// haltReason says whether the record error just counted stops the run.
func (r *run) haltReason() string {
	switch {
	case r.cfg.ErrorPolicy == Halt:
		return runcontract.ReasonRecordError
	case r.tooManyErrors():
		return runcontract.ReasonTooManyErrors
	}
	return ""
}

func (r *run) tooManyErrors() bool {
	return r.cfg.MaxErrors >= 0 && r.rec.Failed() > int64(r.cfg.MaxErrors)
}

// advance moves the committed cursor forward to c; it never moves it back (a page re-read
// within the safety gap ends before the stored cursor).
func (r *run) advance(c cursor.Cursor) {
	if cursor.Compare(c, r.committed, r.ids) > 0 {
		r.committed = c
		r.dirty = true
	}
}

// maybeSave stores the checkpoint if something changed and the checkpoint interval passed.
func (r *run) maybeSave(ctx context.Context) {
	if !r.dirty || r.cfg.DryRun || ctx.Err() != nil {
		return // a cancelled run stores its cursor once, at the end, on a fresh context
	}
	if r.cfg.Clock.Now().Sub(r.lastSave) < r.cfg.CheckpointInterval {
		return
	}
	if err := r.save(ctx, v1alpha1.RunPhaseRunning); err != nil {
		r.log.Info("checkpoint not stored; retrying at the next page or the end", "error", err.Error())
	}
}

// save stores the checkpoint with the committed position. ErrConflict ends the run (another
// runner moved the checkpoint) and forbids further saves.
func (r *run) save(ctx context.Context, phase v1alpha1.RunPhase) error {
	if !r.loaded || r.conflict || r.cfg.DryRun {
		return nil
	}
	st := r.nextState(phase)
	if err := r.cfg.Store.Save(ctx, st); err != nil {
		if errors.Is(err, checkpoint.ErrConflict) {
			r.conflict = true
			r.fail(runcontract.ReasonCheckpointConflict, fmt.Sprintf("store checkpoint at %s: %v", r.committed, err), err)
		}
		return fmt.Errorf("store checkpoint at %s: %w", r.committed, err)
	}
	r.st = st
	r.stored = st.Cursor
	r.dirty = false
	r.lastSave = r.cfg.Clock.Now()
	return nil
}

// nextState is the loaded state with this run's progress.
func (r *run) nextState(phase v1alpha1.RunPhase) runcontract.Checkpoint {
	st := r.st
	if r.cfg.Job != "" {
		st.Job = r.cfg.Job
	}
	var committed *cursor.Cursor
	if !r.committed.IsZero() {
		c := r.committed
		committed = &c
	}
	if br := r.cfg.Range; br != nil {
		bfs := make(map[string]runcontract.Backfill, len(st.Backfills)+1)
		for k, v := range st.Backfills {
			bfs[k] = v
		}
		bfs[br.Key] = runcontract.Backfill{
			From:   br.From.UTC().Format(time.RFC3339Nano),
			To:     br.To.UTC().Format(time.RFC3339Nano),
			Cursor: committed,
			Done:   r.complete && r.failure == nil,
		}
		st.Backfills = bfs
	} else {
		st.Cursor = committed
		st.SafetyGap = r.cfg.SafetyGap.String()
	}
	st.FailedKeys = r.fk.list()
	snap := r.rec.Snapshot()
	st.LastRun = &runcontract.RunSummary{
		RunID:     r.cfg.RunID,
		Phase:     string(phase),
		Processed: snap.Read,
		Upserts:   snap.Upserted,
		Errors:    snap.Failed,
	}
	return st
}

// fail records the first reason the run stops as Failed.
func (r *run) fail(reason, msg string, err error) {
	if r.failure == nil {
		r.failure = &RunError{Phase: v1alpha1.RunPhaseFailed, Reason: reason, Message: msg, Err: err}
	}
}

// interrupt records that the run was cancelled (signal or lost lock).
func (r *run) interrupt(ctx context.Context) {
	if r.failure != nil {
		return
	}
	cause := context.Cause(ctx)
	reason, msg := runcontract.ReasonCancelled, "cancelled; the last committed cursor was stored"
	if r.parent.Err() == nil && errors.Is(cause, errLockLost) {
		reason, msg = runcontract.ReasonLockLost, "the run lock was lost; the last committed cursor was stored"
	}
	r.failure = &RunError{Phase: v1alpha1.RunPhaseInterrupted, Reason: reason, Message: msg, Err: cause}
}

// stopOn ends the run on an operation's error: Interrupted if the run was cancelled, else
// Failed with reason.
func (r *run) stopOn(ctx context.Context, reason, msg string, err error) {
	if ctx.Err() != nil {
		r.interrupt(ctx)
		return
	}
	r.fail(reason, msg, err)
}

// finish completes an unsorted or backfill run, runs the drift check, stores the checkpoint
// one last time (on a fresh context if the run's was cancelled), writes the audit and
// publishes it.
func (r *run) finish(ctx, parent context.Context) (Result, error) {
	if r.cfg.Unsorted && r.complete && r.failure == nil {
		r.advance(r.maxSeen)
		for _, id := range r.pendingFailed.list() {
			if r.fk.add(id) {
				r.dirty = true
			}
		}
	}
	if r.failure == nil {
		r.rec.SetReconciliation(r.driftCheck(ctx))
	}
	phase := v1alpha1.RunPhaseSucceeded
	if r.rec.Failed() > 0 {
		phase = v1alpha1.RunPhasePartiallySucceeded
	}
	if r.failure != nil {
		phase = r.failure.Phase
	}

	endCtx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.cfg.SaveTimeout)
	defer cancel()
	if err := r.save(endCtx, phase); err != nil {
		if r.failure == nil {
			r.fail(runcontract.ReasonCheckpointError, err.Error(), err)
		} else if !errors.Is(err, checkpoint.ErrConflict) {
			r.failure.Message += fmt.Sprintf("; %v", err)
		}
		phase = r.failure.Phase
	}
	var end *cursor.Cursor
	if !r.committed.IsZero() {
		c := r.committed
		end = &c
	}
	if end != nil {
		r.rec.SetCursorEnd(*end)
	}
	var reason, msg string
	if r.failure != nil {
		reason, msg = r.failure.Reason, r.failure.Message
	}
	record := r.rec.Finish(phase, reason, msg)
	r.log.Info("run finished", "phase", phase, "reason", reason, "read", record.Read,
		"upserted", record.Upserted, "failed", record.Failed, "cursor", r.committed.String())

	if r.cfg.Publisher != nil && !r.cfg.DryRun {
		var stored *v1alpha1.Cursor
		if r.stored != nil {
			stored = audit.CursorOf(*r.stored)
		}
		if err := r.cfg.Publisher.Publish(endCtx, record, stored); err != nil {
			r.log.Info("run record not published", "error", err.Error())
		}
	}
	res := Result{Record: record, Cursor: end, Stored: r.stored, Plan: r.plan}
	if r.failure != nil {
		return res, r.failure
	}
	return res, nil
}

// mapError turns a mapping error into a record error.
func mapError(rec connector.Record, err error) *connector.RecordError {
	var re *connector.RecordError
	if errors.As(err, &re) {
		if re.ID == "" {
			c := *re
			c.ID = rec.ID
			return &c
		}
		return re
	}
	return &connector.RecordError{ID: rec.ID, Reason: "mapping failed", Detail: err.Error()}
}

// sinkError turns a Failed result into a record error.
func sinkError(rec connector.Record, err error) *connector.RecordError {
	var re *connector.RecordError
	if errors.As(err, &re) {
		if re.ID == "" {
			c := *re
			c.ID = rec.ID
			return &c
		}
		return re
	}
	detail := "no reason given"
	if err != nil {
		detail = err.Error()
	}
	return &connector.RecordError{ID: rec.ID, Reason: "rejected by sink", Detail: detail}
}

func sourceReason(err error) string {
	if errors.Is(err, connector.ErrRateLimited) {
		return runcontract.ReasonRateLimited
	}
	return runcontract.ReasonSourceError
}

func sinkReason(err error) string {
	if errors.Is(err, connector.ErrRateLimited) {
		return runcontract.ReasonRateLimited
	}
	return runcontract.ReasonSinkError
}
