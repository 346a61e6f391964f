package engine

import (
	"context"
	"fmt"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// retryFailed fetches the records that failed in earlier runs (when the source can fetch by
// id; otherwise the run re-reads them, rewind.go), maps and upserts them. Those that succeed, and those the source no longer has, leave
// the failed keys; those that fail again stay and are counted as record errors (policy Halt
// does not stop on them, since no cursor depends on them; MaxErrors does). The cursor does
// not move.
func (r *run) retryFailed(ctx context.Context) {
	f, ok := r.fetcher()
	if !ok || !r.out.retries() || r.fk.len() == 0 {
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
			w, err := r.mapRecord(rec)
			if err != nil {
				r.rec.Fail(mapError(rec, err), rec.Cursor())
				continue
			}
			batch = append(batch, w)
			from = append(from, rec)
		}
		if len(batch) > 0 {
			results, err := r.out.upsert(ctx, batch)
			if err != nil {
				r.stopOn(ctx, sinkReason(err), fmt.Sprintf("upsert %d retried records: %v", len(batch), err), err)
				return
			}
			for j, res := range results {
				if res.Outcome == connector.Failed {
					r.rec.FailKey(sinkError(from[j], res.Err), from[j].Cursor(), batch[j].Key)
					continue
				}
				r.addOutcome(from[j].ID, batch[j], res)
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
