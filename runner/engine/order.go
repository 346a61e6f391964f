package engine

import (
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// order is how a run moves through the source's pages: sorted (sorted.go, the committed
// cursor follows the pages) or unsorted (unsorted.go, the cursor moves once, at the end of
// a complete run). It is chosen once per run from Config.Unsorted.
type order interface {
	// check validates page pr and reports whether it is the run's last page.
	check(pr pageResult) (last bool, err error)
	// next returns the cursor to read the page after pr from (pr is not the last page).
	next(pr pageResult) cursor.Cursor
	// before keeps the records of a checked page with UpdatedAt before to, with their
	// mappings; end reports that no later page can hold such a record.
	before(recs []connector.Record, mapped mapResults, to time.Time) (_ []connector.Record, _ mapResults, end bool)
	// skip reports whether rec was already processed in this run in a newer or equal
	// version, and remembers rec otherwise.
	skip(rec connector.Record) bool
	// commit takes a page's committed prefix: its records, and those among them that
	// failed under policy Skip. It returns where the committed cursor may advance to now
	// (ok false: not now) and the failures to add to the checkpoint's failed keys now.
	commit(recs []connector.Record, failed []failedAt) (to cursor.Cursor, ok bool, failedNow []failedAt)
	// complete is called once the source was read to its end without a failure; it returns
	// what commit would have, for the progress held back until then.
	complete() (to cursor.Cursor, ok bool, failedNow []failedAt)
}

// newOrder chooses the order of a run.
func newOrder(cfg Config, ids cursor.IDOrder) order {
	if cfg.Unsorted {
		return newUnsorted(ids)
	}
	return sorted{ids: ids}
}
