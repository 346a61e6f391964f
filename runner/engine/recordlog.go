package engine

import (
	"context"
	"errors"
	"slices"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// loadRecordLog loads the record log when the store keeps one (checkpoint.RecordLogStore)
// and the run stores anything. A log that cannot be used does not stop the sync: it is the
// evidence of earlier runs, not their state. Stored data that is not a record log is
// replaced by a new one; a log that could not be read (an I/O or API error) is left as it
// is, and this run adds nothing to it.
func (r *run) loadRecordLog(ctx context.Context) {
	ls, ok := r.cfg.Store.(checkpoint.RecordLogStore)
	if !ok || r.cfg.DryRun {
		return
	}
	l, err := ls.LoadRecordLog(ctx)
	switch {
	case errors.Is(err, runcontract.ErrInvalidRecordLog):
		r.log.Info("the stored record log is not valid; this run starts a new one", "error", err.Error())
		l = runcontract.RecordLog{}
	case err != nil:
		r.log.Info("record log not readable; this run leaves it as it is", "error", err.Error())
		return
	}
	l.Job = r.cfg.Job
	r.baseLog = &l
}

// nextRecordLog is the loaded record log with this run's record events and cursor range,
// within its bounds, and its size; nil when the store keeps no log.
func (r *run) nextRecordLog(phase audit.Phase) (*runcontract.RecordLog, *audit.RecordLogStats) {
	if r.baseLog == nil {
		return nil, nil
	}
	l := *r.baseLog
	events, dropped := r.rec.Events()
	l.Entries = append(slices.Clone(l.Entries), events...)
	l.Dropped += dropped
	l.Runs = slices.Clone(l.Runs)
	snap := r.rec.Snapshot()
	run := runcontract.RunRange{
		RunID:     r.cfg.RunID,
		Trigger:   r.cfg.Trigger,
		StartTime: snap.StartTime,
		EndTime:   r.cfg.Clock.Now().UTC(),
		Phase:     string(phase),
	}
	if !r.start.IsZero() {
		c := r.start
		run.CursorStart = &c
	}
	if !r.committed.IsZero() {
		c := r.committed
		run.CursorEnd = &c
	}
	l.AddRun(run)
	l.Bound(runcontract.MaxRecordLogEntries, runcontract.MaxRecordLogBytes)
	size := 0
	if data, err := runcontract.EncodeRecordLog(r.cfg.Job, l); err == nil {
		size = len(data)
	}
	return &l, &audit.RecordLogStats{Entries: len(l.Entries), Dropped: l.Dropped, Bytes: size}
}
