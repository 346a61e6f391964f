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
	if !r.loaded || r.conflict {
		return nil
	}
	st := r.nextState(phase)
	stored, err := r.out.save(ctx, st)
	if err != nil {
		if errors.Is(err, checkpoint.ErrConflict) {
			r.conflict = true
			r.fail(runcontract.ReasonCheckpointConflict, fmt.Sprintf("store checkpoint at %s: %v", r.committed, err), err)
		}
		return fmt.Errorf("store checkpoint at %s: %w", r.committed, err)
	}
	if !stored {
		return nil
	}
	r.st = st
	r.stored = st.Cursor
	r.dirty = false
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
