package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
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

	// The run's strategies, chosen once from the Config.
	order order                                                                             // how the source's pages are read and committed
	read  func(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) // reads one page: ReadPage, or ScanPage in Snapshot mode
	scope scope                                                                             // what part of the source, and where its progress is kept
	out   output                                                                            // where records, the checkpoint and the record go
	rows  *rowHashing                                                                       // Snapshot: hashes of source records (snapshot_rowhash.go); nil: none
	scan  *scanReader                                                                       // Snapshot: the scan, which reads a page ahead; nil: not a Snapshot run

	loaded bool                   // the checkpoint was loaded: saving is allowed
	st     runcontract.Checkpoint // the last stored (or loaded) state
	stored *cursor.Cursor         // the durably stored main cursor
	fk     *failedKeys
	// failing reserves room in fk for ids that failed under Skip in this run and wait for
	// the order to commit them, so that fk never has to drop a key (see reserveFailed).
	failing map[string]struct{}
	// rewound holds the failed keys a run of a source that cannot fetch by id re-reads
	// (rewind.go); those not met by the end of a complete run are no longer in the source.
	rewound   map[string]struct{}
	start     cursor.Cursor // where reading starts
	committed cursor.Cursor // the committed position (main or backfill); zero: none
	dirty     bool          // committed or fk changed since the last save
	lastSave  time.Time
	noSave    bool // the store reported ErrConflict or refused the first save: no further saves
	complete  bool // the source was read to the end (or to the backfill's To)

	failure *RunError // first reason the run stops; nil while it goes on

	recent *recentIDs // the ids this run wrote last, for the drift check's sample
	// resynced: the stored state completed a full re-sync under the current mapping.
	resynced bool
	// baseLog is the record log as loaded (recordlog.go); nil when the store keeps none.
	baseLog *runcontract.RecordLog
	// storedAs is the stored checkpoint but its LastRun, encoded (nochange.go).
	storedAs []byte
	// scanned is the stored cursor up to which the overlap was checked by version
	// (overlapscan.go): the main loop reads after it; nil when it was not.
	scanned *cursor.Cursor
	// spareW is the mappings' slice of a written page, for the next read-ahead (pages.go).
	spareW []connector.WriteRecord
	// spareRecs is the records' slice of a written page of digests, for the next
	// read-ahead (pages.go).
	spareRecs []connector.Record
	// srcIdx and held are writePage's scratch slices.
	srcIdx []int
	held   []bool
	// pageSize is the size the main loop reads its next page with; sizes, when not nil,
	// adapts it after each page written (pagesize.go).
	pageSize int
	sizes    *pageSizePolicy
}

func newRun(cfg Config) *run {
	ids := cursor.IDOrder(cfg.Source.CompareIDs)
	read := cfg.Source.ReadPage
	rows := newRowHashing(cfg) // snapshot_rowhash.go
	var scan *scanReader
	if sc, ok := cfg.Source.(connector.Scanner); ok && cfg.Snapshot {
		scan = &scanReader{scanner: sc}
		read = scan.read
		if rows != nil {
			rows.scan = scan
			useDigests(cfg, scan) // snapshot_digest.go
		}
	}
	return &run{
		read: read,
		scan: scan,
		cfg:  cfg,
		log:  cfg.Logger.WithValues("job", cfg.Job, "runId", cfg.RunID),
		ids:  ids,
		rec: audit.New(audit.Options{
			Out: cfg.AuditOut, Now: cfg.Clock.Now, Job: cfg.Job, RunID: cfg.RunID, Trigger: cfg.Trigger,
		}),
		order:   newOrder(cfg, ids),
		scope:   newScope(cfg),
		out:     withRowHashing(newOutput(cfg), rows),
		rows:    rows,
		fk:      newFailedKeys(nil, nil),
		failing: map[string]struct{}{},
		recent:  newRecentIDs(cfg.Reconcile.Sample),

		pageSize: cfg.PageSize,
		sizes:    newPageSizes(cfg, scan != nil), // pagesize.go
	}
}

// execute runs the phases in order; ctx is the run's context (cancelled on SIGTERM or when
// the lock is lost), parent the caller's, used for the values of the final fresh context.
func (r *run) execute(ctx, parent context.Context) (Result, error) {
	r.sourceWarnings()
	if r.load(ctx) && r.proveWritable(ctx) {
		r.out = r.versionCheck(r.out) // overlap.go
		r.retryFailed(ctx)
		if r.failure == nil {
			r.scanOverlap(ctx) // overlapscan.go
		}
		if r.failure == nil {
			r.readAll(ctx)
		}
	}
	return r.finish(ctx, parent)
}

// sourceWarnings puts what the source cannot guarantee (connector.Warner) into the record.
func (r *run) sourceWarnings() {
	w, ok := r.cfg.Source.(connector.Warner)
	if !ok {
		return
	}
	for _, msg := range w.Warnings() {
		r.rec.Warn(msg)
		r.log.Info("source warning", "warning", msg)
	}
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
		r.storedAs = storedForm(r.cfg.Job, st) // nochange.go
		r.loaded = true
		r.loadRecordLog(ctx)
	}
	r.stored = r.st.Cursor
	r.fk = newFailedKeys(r.st.FailedKeys, r.st.FailedUpdatedAt)
	if r.loaded {
		r.rec.SetFailedKeys(len(r.st.FailedKeys))
	}
	r.checkMapping()

	start, committed, todo := r.scope.resume(r.st, r.ids)
	r.start, r.committed = start, committed
	if todo {
		r.rewindToFailed()
	}
	r.rec.SetCursorStart(r.start)
	if !todo {
		r.complete = true
	}
	return todo
}

// readAll is the main loop. The next page is read while the current one is mapped and
// written: at most one page ahead. A page is only taken from the reader once the previous
// one is committed, so a read error or a cancellation never loses a committed position.
func (r *run) readAll(ctx context.Context) {
	if r.scan != nil {
		defer r.scan.end() // after cancelRead: no scan outlives the loop
	}
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	pending := r.readAhead(readCtx, r.readFrom())
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
		last, err := r.order.check(pr)
		if err != nil {
			r.fail(runcontract.ReasonSourceError, err.Error(), err)
			return
		}
		recs, mapped, end := r.scope.limit(r.order, pr.page.Records, pr.mapped)
		if !r.checkPage(pr.after, recs, pr.checked, pr.checkErr) {
			return
		}
		last = last || end
		if !last {
			pending = r.readAhead(readCtx, r.order.next(pr))
		}
		r.rec.AddRead(len(recs))
		began := r.pageTimer() // pagesize.go
		if !r.writePage(ctx, recs, mapped) {
			return
		}
		r.adaptPageSize(pr, began)
		r.recycle(pr.page.Records) // pages.go
		r.maybeSave(ctx)
		if r.failure != nil {
			return
		}
		if last {
			r.complete = true
		}
	}
}

// failedAt is a record of the page that failed: its index in the page, id and updatedAt.
type failedAt struct {
	idx int
	id  string
	at  time.Time
}

// writePage takes one page's mappings (mapped[i] is the mapping of recs[i]), upserts it
// and commits what the sink confirmed. It reports whether the run goes on.
func (r *run) writePage(ctx context.Context, recs []connector.Record, mapped mapResults) bool {
	if r.heldPage(recs, mapped) {
		return true
	}
	// haltAt bounds the committed prefix of the page: records [0, haltAt) are confirmed or
	// recorded as failed under Skip.
	haltAt, haltReason := len(recs), ""
	var failed []failedAt
	// The batch is built in place in mapped.w (owned by this page): record i's mapping
	// moves to the batch's end, at an index <= i, so no unread mapping is overwritten.
	batch := mapped.w[:0]
	// srcIdx and held are the writer's scratch slices, kept for the next page.
	srcIdx := slices.Grow(r.srcIdx[:0], len(recs))
	var held []bool // Snapshot: records found unchanged before mapping (snapshot_rowhash.go)
	if mapped.held != nil {
		held = slices.Grow(r.held[:0], len(recs))
	}
	defer func() {
		r.srcIdx = srcIdx[:0]
		if held != nil {
			r.held = held[:0]
		}
	}()
	for i, rec := range recs {
		if r.order.skip(rec) {
			continue // an older or equal version of a record already seen this run
		}
		delete(r.rewound, rec.ID)
		w, err := mapped.w[i], mapped.errAt(i)
		if err != nil {
			r.rec.Fail(mapError(rec, err), rec.Cursor())
			failed = append(failed, failedAt{i, rec.ID, rec.UpdatedAt})
			if reason := r.stopReason(rec.ID); reason != "" {
				haltAt, haltReason = i, reason
				break
			}
			continue
		}
		batch = append(batch, w)
		srcIdx = append(srcIdx, i)
		if mapped.held != nil {
			held = append(held, mapped.held[i])
		}
	}

	if len(batch) > 0 {
		results, err := r.upsertPage(ctx, batch, held)
		if err != nil {
			r.stopOn(ctx, sinkReason(err), fmt.Sprintf("upsert page of %d records after %s: %v",
				len(batch), r.committed, err), err)
			return false
		}
		for j, res := range results {
			i := srcIdx[j]
			if res.Outcome != connector.Failed {
				r.addOutcome(recs[i].ID, batch[j], res)
				if res.Outcome != connector.Stale && !batch[j].Deleted {
					r.recent.add(recs[i].ID)
				}
				if r.fk.remove(recs[i].ID) {
					r.dirty = true
				}
				continue
			}
			r.rec.FailKey(sinkError(recs[i], res.Err), recs[i].Cursor(), batch[j].Key)
			failed = append(failed, failedAt{i, recs[i].ID, recs[i].UpdatedAt})
			if i < haltAt {
				if reason := r.stopReason(recs[i].ID); reason != "" {
					haltAt, haltReason = i, reason
				}
			}
		}
	}

	// Commit the confirmed prefix: failures inside it were recorded under Skip.
	var skipped []failedAt
	for _, f := range failed {
		if f.idx < haltAt {
			skipped = append(skipped, f)
		}
	}
	r.commit(r.order.commit(recs[:haltAt], skipped))
	r.recycleValues(batch) // pages.go
	if haltReason != "" {
		msg := fmt.Sprintf("record %s failed; the cursor stops before it (policy Halt)", recs[haltAt].ID)
		switch haltReason {
		case runcontract.ReasonTooManyErrors:
			msg = fmt.Sprintf("more than %d record errors; the cursor stops before record %s", r.cfg.MaxErrors, recs[haltAt].ID)
		case runcontract.ReasonFailedKeysFull:
			msg = fmt.Sprintf("record %s failed while the checkpoint already holds the most failed keys it can (%d), "+
				"each waiting for a retry; the cursor stops before it so that no failure is dropped: "+
				"fix the failing records in the source or the mapping and run again (failed keys are retried first)",
				recs[haltAt].ID, r.cfg.maxFailedKeys)
		}
		clear(r.failing) // the run ends: nothing after the halt is committed
		r.fail(haltReason, msg, nil)
		return false
	}
	return true
}

// heldPage commits a page whose every record a Snapshot run found unchanged before
// mapping (snapshot_rowhash.go: mapped.held all set, no mapping error) in an order that
// skips none, and reports whether it did: nothing is written, and the records count as
// they would one by one through writePage (Unchanged, the last ones written for the drift
// sample, no longer failed), without a batch or results per record.
func (r *run) heldPage(recs []connector.Record, mapped mapResults) bool {
	if mapped.held == nil || mapped.err != nil || len(recs) == 0 {
		return false
	}
	if _, ok := r.order.(sorted); !ok {
		return false
	}
	for _, h := range mapped.held[:len(recs)] {
		if !h {
			return false
		}
	}
	for i, rec := range recs {
		if !mapped.w[i].Deleted {
			r.recent.add(rec.ID)
		}
	}
	if len(r.rewound) > 0 || r.fk.len() > 0 {
		for _, rec := range recs {
			delete(r.rewound, rec.ID)
			if r.fk.remove(rec.ID) {
				r.dirty = true
			}
		}
	}
	r.rec.AddUnchanged(int64(len(recs)))
	r.commit(r.order.commit(recs, nil))
	r.recycleValues(mapped.w[:len(recs)]) // the page's mappings serve the next page
	return true
}

// addOutcome records a confirmed (not Failed) result of the write w of source record id. A
// stale write's log line carries the sink's message (the API's answer), when it gave one.
func (r *run) addOutcome(id string, w connector.WriteRecord, res connector.Result) {
	if res.Outcome != connector.Stale {
		r.rec.AddOutcome(id, w.Key, res.Outcome, w.Deleted)
		return
	}
	var detail string
	var re *connector.RecordError
	switch {
	case errors.As(res.Err, &re) && re.Reason != "":
		detail = re.Reason + ": " + re.Detail
	case re != nil:
		detail = re.Detail
	case res.Err != nil:
		detail = res.Err.Error()
	}
	r.rec.AddSkipped(id, w.Key, detail)
}

// stopReason says whether the record error just counted, of record id, stops the run:
// policy Halt, too many errors, or no room left in the failed keys under Skip.
func (r *run) stopReason(id string) string {
	if reason := r.haltReason(); reason != "" {
		return reason
	}
	if !r.reserveFailed(id) {
		return runcontract.ReasonFailedKeysFull
	}
	return ""
}

// reserveFailed makes room for id in the failed keys before the cursor may pass its
// record, and reports false when there is none: the keys listed and those reserved by
// failures not committed yet reach the bound. An id already listed or reserved needs no
// room.
func (r *run) reserveFailed(id string) bool {
	if r.fk.has(id) {
		return true
	}
	if _, ok := r.failing[id]; ok {
		return true
	}
	if r.fk.len()+len(r.failing) >= r.cfg.maxFailedKeys {
		return false
	}
	r.failing[id] = struct{}{}
	return true
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

// commit keeps the failed ids the order releases (their room was reserved) and advances
// the committed cursor to to (when ok).
func (r *run) commit(to cursor.Cursor, ok bool, failed []failedAt) {
	for _, f := range failed {
		if r.fk.add(f.id, f.at) {
			r.dirty = true
		}
		delete(r.failing, f.id)
	}
	if ok {
		r.advance(to)
	}
}

// advance moves the committed cursor forward to c; it never moves it back (a page re-read
// within the safety gap ends before the stored cursor).
func (r *run) advance(c cursor.Cursor) {
	if cursor.Compare(c, r.committed, r.ids) > 0 {
		r.committed = c
		r.dirty = true
	}
}

// finish completes the run (the order releases progress it held back until the end), runs
// the drift check, stores the checkpoint one last time (on a fresh context if the run's was
// cancelled), writes the audit and publishes it.
func (r *run) finish(ctx, parent context.Context) (Result, error) {
	r.lockLost(parent)
	if r.complete && r.failure == nil {
		r.commit(r.order.complete())
		r.dropGone()
		r.applyTombstones(ctx)
		r.fullReconcile(ctx)
	}
	if r.failure == nil {
		r.rec.SetReconciliation(r.driftCheck(ctx))
	}
	phase := audit.PhaseSucceeded
	if r.rec.Failed() > 0 {
		phase = audit.PhasePartiallySucceeded
	}
	if r.failure != nil {
		phase = r.failure.Phase
	}

	endCtx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.cfg.SaveTimeout)
	defer cancel()
	if err := r.out.flush(endCtx); err != nil {
		// Writes a crash could still undo: the checkpoint keeps what it stored last (made
		// durable before it was stored), and the run fails.
		r.noSave = true
		if r.failure == nil {
			r.fail(sinkReason(err), fmt.Sprintf("sink: %v", err), err)
		} else {
			r.failure.Message += fmt.Sprintf("; %v", err)
		}
		phase = r.failure.Phase
	}
	if err := r.save(endCtx, phase); err != nil {
		if r.failure == nil {
			r.fail(runcontract.ReasonCheckpointError, err.Error(), err)
		} else if !errors.Is(err, checkpoint.ErrConflict) {
			r.failure.Message += fmt.Sprintf("; %v", err)
		}
		phase = r.failure.Phase
	}
	if r.resynced {
		r.completeResync()
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

	if err := r.out.publish(endCtx, record, r.stored); err != nil {
		r.log.Info("run record not published", "error", err.Error())
	}
	res := Result{Record: record, Cursor: end, Stored: r.stored, Plan: r.out.result()}
	if r.failure != nil {
		return res, r.failure
	}
	return res, nil
}
