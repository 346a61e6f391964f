package engine

import (
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// fetcher returns the source's Fetcher when the source can fetch by id: it implements
// connector.Fetcher and, if it implements connector.FetchCapable, says it can.
func (r *run) fetcher() (connector.Fetcher, bool) {
	f, ok := r.cfg.Source.(connector.Fetcher)
	if !ok {
		return nil, false
	}
	if c, ok := r.cfg.Source.(connector.FetchCapable); ok && !c.CanFetchByID() {
		return nil, false
	}
	return f, true
}

// rewindToFailed makes a regular run of a source that cannot fetch by id retry the failed
// keys by reading them again: it starts at min(stored cursor - safety gap, the oldest
// failed record's updatedAt). The rewind is bounded by the failed keys themselves: never
// further back than the oldest failed record still listed (at most MaxFailedKeys of them),
// never to the beginning for a key whose position is unknown (those are kept, and logged;
// a reset to an earlier time or --clear-failed-keys deals with them). The records read
// again below the stored cursor are upserted idempotently (the sink reports them
// Unchanged); a failed record read again leaves the list when it succeeds, stays when it
// fails again, and leaves it when a complete run never met it (dropGone).
func (r *run) rewindToFailed() {
	if r.cfg.Range != nil || !r.out.retries() || r.fk.len() == 0 {
		return
	}
	if _, ok := r.fetcher(); ok {
		return // retryFailed fetches them by id
	}
	oldest, known, unknown := r.fk.oldest()
	if len(unknown) > 0 {
		r.log.Info("failed keys without a stored position cannot be re-read by this source (it cannot fetch by id); "+
			"they are kept: reset the checkpoint to an earlier time to read them again, or clear them with --clear-failed-keys",
			"count", len(unknown))
	}
	if len(known) == 0 {
		return
	}
	r.rewound = make(map[string]struct{}, len(known))
	for _, id := range known {
		r.rewound[id] = struct{}{}
	}
	from := cursor.Cursor{UpdatedAt: oldest} // an empty id: every record at or after oldest
	if cursor.Compare(from, r.start, r.ids) < 0 {
		r.log.Info("re-reading from the oldest failed record: the source cannot fetch failed records by id",
			"failedKeys", len(known), "from", from.String(), "storedStart", r.start.String())
		r.start = from
	}
}

// dropGone removes, after a complete run without failure, the failed keys the re-read
// never met: a record read again from before its position to the source's end that did
// not come back is no longer in the source (as a fetch by id that finds nothing).
func (r *run) dropGone() {
	n := 0
	for id := range r.rewound {
		if r.fk.remove(id) {
			r.dirty = true
			n++
		}
	}
	if n > 0 {
		r.log.Info("failed records no longer in the source left the failed keys", "count", n)
	}
}
