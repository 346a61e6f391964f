package engine

import (
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// scope is the part of the source a run covers and where its progress is kept: the main
// cursor (mainScope, below) or a backfill's own progress (backfill.go). It is chosen once
// per run from Config.Range.
type scope interface {
	// resume reads the stored state: where reading starts, the committed position (zero:
	// none), and whether there is anything to read.
	resume(st runcontract.Checkpoint, ids cursor.IDOrder) (start, committed cursor.Cursor, todo bool)
	// limit trims a checked page to the scope, in the source's order; end reports that the
	// scope ends within the page.
	limit(o order, recs []connector.Record, mapped mapResults) (_ []connector.Record, _ mapResults, end bool)
	// record puts the committed position (nil: none) into st; done reports a complete run
	// without a failure.
	record(st *runcontract.Checkpoint, committed *cursor.Cursor, done bool)
}

// newScope chooses the scope of a run.
func newScope(cfg Config) scope {
	if cfg.Range != nil {
		return backfill{rng: *cfg.Range}
	}
	if cfg.Snapshot {
		return snapshotScope{}
	}
	return mainScope{gap: cfg.SafetyGap, startAt: cfg.StartAt}
}

// mainScope is a regular run: it resumes from the stored main cursor, rewound by the safety
// gap (or from StartAt, or the beginning, when nothing is stored), reads to the source's end
// and keeps its progress in State.Cursor.
type mainScope struct {
	gap     time.Duration
	startAt time.Time
}

func (m mainScope) resume(st runcontract.Checkpoint, _ cursor.IDOrder) (cursor.Cursor, cursor.Cursor, bool) {
	switch {
	case st.Cursor != nil:
		return st.Cursor.Rewind(m.gap), *st.Cursor, true
	case !m.startAt.IsZero():
		return cursor.Cursor{UpdatedAt: m.startAt.UTC()}, cursor.Cursor{}, true
	}
	return cursor.Beginning, cursor.Cursor{}, true
}

// limit: the main scope is the whole source.
func (mainScope) limit(_ order, recs []connector.Record, mapped mapResults) ([]connector.Record, mapResults, bool) {
	return recs, mapped, false
}

func (m mainScope) record(st *runcontract.Checkpoint, committed *cursor.Cursor, _ bool) {
	st.Cursor = committed
	st.SafetyGap = m.gap.String()
}
