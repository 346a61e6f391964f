package engine

import (
	"context"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// driftCheck counts the records with UpdatedAt in [end - window, end] on both sides, where
// end is the committed cursor's time. It returns nil when the check is off (Sample 0, no
// window, nothing committed, a dry run, or a side that cannot count) or when counting fails (logged):
// the drift check informs, it never fails a run. Records that failed under Skip are missing
// from the sink, so they show up as drift until they are retried successfully.
func (r *run) driftCheck(ctx context.Context) *audit.Reconciliation {
	rc := r.cfg.Reconcile
	if rc.Sample <= 0 || rc.Window <= 0 || r.committed.IsZero() {
		return nil
	}
	src, ok := r.cfg.Source.(connector.Counter)
	if !ok {
		return nil
	}
	dst := r.out.counter()
	if dst == nil {
		return nil
	}
	to := r.committed.UpdatedAt
	from := to.Add(-rc.Window)
	n, err := src.CountWindow(ctx, from, to)
	if err != nil {
		r.log.Info("drift check skipped: counting source records failed", "error", err.Error())
		return nil
	}
	m, err := dst.CountWindow(ctx, from, to)
	if err != nil {
		r.log.Info("drift check skipped: counting sink records failed", "error", err.Error())
		return nil
	}
	return &audit.Reconciliation{
		WindowStart: from.UTC(),
		WindowEnd:   to.UTC(),
		SourceCount: n,
		SinkCount:   m,
		Drift:       n != m,
	}
}
