package engine

import (
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// sorted is the order of a source whose pages are ascending by (updatedAt, id): each page
// is read after the last record of the one before, and the committed cursor advances to
// the end of each page's committed prefix. A page that is not ascending fails the run: a
// cursor over it could pass records never read.
type sorted struct {
	ids cursor.IDOrder
}

// check refuses a page that is not strictly after pr.after and ascending; an empty page
// ends the run.
func (s sorted) check(pr pageResult) (bool, error) {
	recs := pr.page.Records
	prev := pr.after
	for i := range recs {
		c := recs[i].Cursor()
		if cursor.Compare(c, prev, s.ids) <= 0 {
			return false, fmt.Errorf("read page after %s: record %s is not after %s: the source is not ascending by (updatedAt, id)", pr.after, c, prev)
		}
		prev = c
	}
	return !pr.page.More || len(recs) == 0, nil
}

// next is the page's last record.
func (sorted) next(pr pageResult) cursor.Cursor {
	return pr.page.Records[len(pr.page.Records)-1].Cursor()
}

// before cuts the page at its first record at or after to: everything later is past it too.
func (sorted) before(recs []connector.Record, mapped mapResults, to time.Time) ([]connector.Record, mapResults, bool) {
	for i, rec := range recs {
		if !rec.UpdatedAt.Before(to) {
			return recs[:i], mapped.slice(0, i), true
		}
	}
	return recs, mapped, false
}

// skip: a sorted source never returns a record twice in one run.
func (sorted) skip(connector.Record) bool { return false }

// commit advances to the prefix's last record and keeps its failed ids at once.
func (sorted) commit(recs []connector.Record, failed []failedAt) (cursor.Cursor, bool, []failedAt) {
	if len(recs) == 0 {
		return cursor.Cursor{}, false, failed
	}
	return recs[len(recs)-1].Cursor(), true, failed
}

// complete: everything was committed page by page.
func (sorted) complete() (cursor.Cursor, bool, []failedAt) { return cursor.Cursor{}, false, nil }
