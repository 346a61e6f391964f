package engine

import (
	"fmt"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
)

// Mapping changes. The checkpoint keeps the fingerprint of the mapping the records synced so
// far were written with (runcontract.Checkpoint.MappingFingerprint). At load, a run
// compares it with Config.MappingFingerprint:
//
//   - nothing stored (a fresh checkpoint, or one stored before fingerprints existed): the
//     current fingerprint is adopted silently; this is not a change;
//   - the same: nothing to say;
//   - different: the records synced before carry the previous mapping. The run record
//     says so (MappingChange), on every run, until a full re-sync under the current mapping
//     completes. A full re-sync is a main-scope run that started from the beginning under
//     the current mapping: after a reset to the beginning (any policy), or because the
//     policy is MappingBackfill, which moves the main cursor back to the beginning itself.
//     It is recorded in the checkpoint (MappingResync) with the first save, so a run that
//     stops midway is resumed from its cursor by the next run, never started again; the
//     run that reads to the end without failure stores the current fingerprint and removes
//     MappingResync, so a completed re-sync never repeats.
//
// A backfill run only reports a change; it neither starts nor completes a re-sync.

// checkMapping applies the rules above to the loaded state r.st, before the scope resumes
// from it, and records a change in the audit record.
func (r *run) checkMapping() {
	fp := r.cfg.MappingFingerprint
	if fp == "" {
		return
	}
	st := &r.st
	if st.MappingFingerprint == "" {
		st.MappingFingerprint, st.MappingResync = fp, nil
		return
	}
	previous := st.MappingFingerprint
	inResync := st.MappingResync != nil && st.MappingResync.Fingerprint == fp
	if st.MappingResync != nil && !inResync {
		// A re-sync under another mapping was left midway: the records it rewrote carry
		// that mapping.
		previous = st.MappingResync.Fingerprint
	}
	if previous == fp {
		return
	}
	resync := audit.ResyncNone
	switch {
	case r.cfg.Range != nil:
		if inResync {
			resync = audit.ResyncInProgress
		}
	case inResync:
		resync = audit.ResyncInProgress
	case st.Cursor == nil:
		// The run starts from the beginning (a reset, or nothing stored yet): it re-syncs
		// everything under the current mapping.
		st.MappingResync = &runcontract.MappingResync{Fingerprint: fp}
		resync = audit.ResyncInProgress
	case r.cfg.OnMappingChange == MappingBackfill:
		r.log.Info("mapping changed: re-syncing every record under the new mapping from the beginning (onMappingChange Backfill)",
			"previousMapping", previous, "mapping", fp, "storedCursor", st.Cursor.String())
		st.Cursor = nil
		st.MappingResync = &runcontract.MappingResync{Fingerprint: fp}
		resync = audit.ResyncInProgress
	default:
		st.MappingResync = nil
	}
	r.rec.SetMappingChange(&audit.MappingChange{
		Previous: previous, Current: fp, Resync: resync, Message: mappingChangeMessage(previous, fp, resync),
	})
}

// resyncDone records, in the state st about to be stored, that a full re-sync under the
// current mapping is complete: done reports a complete main-scope run without failure.
func (r *run) resyncDone(st *runcontract.Checkpoint, done bool) {
	fp := r.cfg.MappingFingerprint
	if fp == "" || !done || r.cfg.Range != nil || st.MappingResync == nil || st.MappingResync.Fingerprint != fp {
		return
	}
	st.MappingFingerprint, st.MappingResync = fp, nil
}

// completeResync marks the run record's mapping change Completed once the run stored the
// end of a full re-sync.
func (r *run) completeResync() {
	snap := r.rec.Snapshot()
	mc := snap.MappingChange
	if mc == nil {
		return
	}
	mc.Resync = audit.ResyncCompleted
	mc.Message = mappingChangeMessage(mc.Previous, mc.Current, audit.ResyncCompleted)
	r.rec.SetMappingChange(mc)
}

// mappingChangeMessage says what a mapping change means for the records in the sink and
// what to do about it.
func mappingChangeMessage(previous, current, resync string) string {
	head := fmt.Sprintf("spec.key/spec.mapping changed (fingerprint %s, previously %s)", current, previous)
	switch resync {
	case audit.ResyncCompleted:
		return head + ": this run completed the full re-sync; every record now carries the current mapping"
	case audit.ResyncInProgress:
		return head + ": a full re-sync under the current mapping is in progress from the beginning; " +
			"records it has not re-read yet still carry the previous mapping"
	}
	return head + ": records synced before this change still carry the previous mapping; re-sync them with a reset of " +
		"the checkpoint to the beginning (a reset request with reset-to \"beginning\"; local mode: runner checkpoint reset --to beginning), " +
		"or set spec.onMappingChange: Backfill"
}
