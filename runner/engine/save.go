package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// maybeSave stores the checkpoint if something changed and the checkpoint interval passed.
func (r *run) maybeSave(ctx context.Context) {
	if !r.dirty || ctx.Err() != nil {
		return // a cancelled run stores its cursor once, at the end, on a fresh context
	}
	if r.cfg.Clock.Now().Sub(r.lastSave) < r.cfg.CheckpointInterval {
		return
	}
	if err := r.save(ctx, audit.PhaseRunning); err != nil {
		r.log.Info("checkpoint not stored; retrying at the next page or the end", "error", err.Error())
	}
}

// save stores the checkpoint with the committed position. ErrConflict ends the run (another
// runner moved the checkpoint) and forbids further saves.
func (r *run) save(ctx context.Context, phase audit.Phase) error {
	if !r.loaded || r.noSave {
		return nil
	}
	st := r.nextState(phase)
	if r.nothingToStore(phase, st) { // nochange.go
		r.keepStored(st)
		return nil
	}
	log, stats := r.nextRecordLog(phase)
	stored, err := r.out.save(ctx, st, log)
	if err != nil {
		if errors.Is(err, checkpoint.ErrConflict) {
			r.noSave = true
			r.fail(runcontract.ReasonCheckpointConflict, fmt.Sprintf("store checkpoint at %s: %v", r.committed, err), err)
		}
		return fmt.Errorf("store checkpoint at %s: %w", r.committed, err)
	}
	if !stored {
		return nil
	}
	if r.st.MappingResync != nil && st.MappingResync == nil {
		r.resynced = true // resyncDone: this state completes a full re-sync
	}
	r.st = st
	r.storedAs = nil // the store now holds this run's LastRun: the end must replace it
	r.stored = st.Cursor
	r.dirty = false
	if stats != nil {
		r.rec.SetRecordLog(stats)
	}
	r.rec.SetFailedKeys(len(st.FailedKeys))
	r.lastSave = r.cfg.Clock.Now()
	return nil
}

// nextState is the loaded state with this run's progress.
func (r *run) nextState(phase audit.Phase) runcontract.Checkpoint {
	st := r.st
	if r.cfg.Job != "" {
		st.Job = r.cfg.Job
	}
	var committed *cursor.Cursor
	if !r.committed.IsZero() {
		c := r.committed
		committed = &c
	}
	r.scope.record(&st, committed, r.complete && r.failure == nil)
	r.resyncDone(&st, r.complete && r.failure == nil)
	st.FailedKeys = r.fk.list()
	st.FailedUpdatedAt = r.fk.positions()
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

// proveWritable stores the checkpoint as loaded, unchanged, before anything is written to
// the sink, so that a store the run cannot write (a read-only directory, a ConfigMap
// without update rights) fails the run before its first write, not after. It reports
// whether the run can go on. Unless the run may write deletions or has failed records to
// retry, the proof waits for the first upsert that reaches the sink (provingOutput,
// nochange.go): a run that writes nothing stores nothing.
func (r *run) proveWritable(ctx context.Context) bool {
	if !r.loaded {
		return true
	}
	if _, ok := r.out.(sinkOutput); ok && !r.deletesWrite() && r.fk.len() == 0 {
		r.out = provingOutput{output: r.out, proved: new(bool), prove: r.storeLoaded}
		return true
	}
	return r.storeLoaded(ctx)
}

// storeLoaded stores the checkpoint as loaded (after the mapping check), unchanged, and
// reports whether the run can go on.
func (r *run) storeLoaded(ctx context.Context) bool {
	stored, err := r.out.save(ctx, r.st, nil)
	if err != nil {
		r.noSave = true // the final save would only fail again
		switch {
		case ctx.Err() != nil:
			r.interrupt(ctx)
		case errors.Is(err, checkpoint.ErrConflict):
			r.fail(runcontract.ReasonCheckpointConflict, fmt.Sprintf("store the loaded checkpoint before the first write: %v", err), err)
		default:
			r.fail(runcontract.ReasonCheckpointError, fmt.Sprintf("the checkpoint store is not writable, so nothing was written to the sink: %v", err), err)
		}
		return false
	}
	if stored {
		r.stored = r.st.Cursor // a mapping re-sync may have moved it back (checkMapping)
		r.storedAs = storedForm(r.cfg.Job, r.st)
	}
	return true
}
