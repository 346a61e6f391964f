package engine

import (
	"bytes"
	"context"
	"errors"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// A run that changes nothing stores nothing. The stored checkpoint is rewritten at the end
// of a run only when the state differs from what the store holds besides LastRun (the
// cursor, the failed keys, the backfills, the mapping fingerprint, the count of runs since
// a full reconciliation...) or the run has record events for the record log; a Succeeded
// run with neither (a rerun with nothing new) leaves the checkpoint and the record log as
// they are: their LastRun and run history keep naming the last run that changed
// something, and the run itself is reported in the SyncJob's status as every run is.
// Likewise the proof that the store is writable (proveWritable) is made right before the
// run's first sink write rather than at its start, unless deletions may be written (full
// key reconciliation or a tombstone listing is configured) or failed records are retried
// first: a run that writes nothing neither proves nor stores. A run that saved during its
// course (a LastRun of phase Running) always saves at its end.

// storedForm is the part of a checkpoint a run compares to decide whether anything changed:
// all of it but LastRun, encoded; nil when it cannot be encoded (always different).
func storedForm(job string, st runcontract.Checkpoint) []byte {
	st.LastRun = nil
	data, err := runcontract.EncodeCheckpoint(job, st)
	if err != nil {
		return nil
	}
	return data
}

// nothingToStore reports whether the final save of a run ending in phase may be left out:
// a Succeeded run that stored nothing during its course but the loaded state, whose state
// is the stored one and which has no record event to log.
func (r *run) nothingToStore(phase audit.Phase, st runcontract.Checkpoint) bool {
	if phase != audit.PhaseSucceeded || r.storedAs == nil {
		return false
	}
	if events, dropped := r.rec.Events(); len(events) > 0 || dropped > 0 {
		return false
	}
	return bytes.Equal(storedForm(r.cfg.Job, st), r.storedAs)
}

// keepStored reports, for a run that stores nothing at its end, the stored checkpoint's
// failed keys and record log in the run's record, as a save would.
func (r *run) keepStored(st runcontract.Checkpoint) {
	r.dirty = false
	r.rec.SetFailedKeys(len(st.FailedKeys))
	if r.baseLog == nil {
		return
	}
	size := 0
	if data, err := runcontract.EncodeRecordLog(r.cfg.Job, *r.baseLog); err == nil {
		size = len(data)
	}
	r.rec.SetRecordLog(&audit.RecordLogStats{Entries: len(r.baseLog.Entries), Dropped: r.baseLog.Dropped, Bytes: size})
}

// deletesWrite reports whether the run may write deletions outside upserts (full key
// reconciliation, a tombstone listing): those go to the sink directly, so the store is
// proven writable at the start.
func (r *run) deletesWrite() bool {
	return r.cfg.Deletes.on() || r.cfg.Deletes.Tombstones.Lister != nil
}

// errNotWritable ends a write that the checkpoint store's proof refused; the run's failure
// (set by the proof) says why.
var errNotWritable = errors.New("the checkpoint store is not writable, so nothing was written to the sink")

// provingOutput proves the checkpoint store writable (storeLoaded) right before the first
// upsert that reaches the sink, once.
type provingOutput struct {
	output
	proved *bool
	prove  func(context.Context) bool
}

func (o provingOutput) upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	if !*o.proved {
		if !o.prove(ctx) {
			return nil, errNotWritable
		}
		*o.proved = true
	}
	return o.output.upsert(ctx, batch)
}
