package engine

import (
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// backfill is the scope of a backfill run over [From, To) (Config.Range): it reads from
// From, or after its own stored progress when that is later, stops before the first record
// with UpdatedAt >= To, and keeps its progress in State.Backfills[Key], never touching
// State.Cursor. A backfill stored as Done reads nothing.
type backfill struct {
	rng Range
}

func (b backfill) resume(st runcontract.Checkpoint, ids cursor.IDOrder) (cursor.Cursor, cursor.Cursor, bool) {
	from := cursor.Cursor{UpdatedAt: b.rng.From.UTC()}
	start, committed := from, cursor.Cursor{}
	bf := st.Backfills[b.rng.Key]
	if bf.Cursor != nil {
		committed = *bf.Cursor
		if cursor.Compare(*bf.Cursor, from, ids) > 0 {
			start = *bf.Cursor
		}
	}
	return start, committed, !bf.Done
}

// limit keeps the records before To.
func (b backfill) limit(o order, recs []connector.Record, mapped mapResults) ([]connector.Record, mapResults, bool) {
	return o.before(recs, mapped, b.rng.To)
}

// record stores the progress under the backfill's key, in a copy of st's backfills.
func (b backfill) record(st *runcontract.Checkpoint, committed *cursor.Cursor, done bool) {
	bfs := make(map[string]runcontract.Backfill, len(st.Backfills)+1)
	for k, v := range st.Backfills {
		bfs[k] = v
	}
	bfs[b.rng.Key] = runcontract.Backfill{
		From:   b.rng.From.UTC().Format(time.RFC3339Nano),
		To:     b.rng.To.UTC().Format(time.RFC3339Nano),
		Cursor: committed,
		Done:   done,
	}
	st.Backfills = bfs
}
