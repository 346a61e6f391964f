package engine

import (
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// unsorted is the order of a source whose pages are not ascending (Config.Unsorted, or an
// UnsortedSource). Every page is asked after the run's start cursor (the source follows its
// own page tokens and reports More=false at the end); records are de-duplicated by id
// within the run (memory O(rows)); and the committed cursor, like the failed keys, moves
// only at the end of a complete run, to the highest (updatedAt, id) seen: before then no
// position is known below which every record was written.
type unsorted struct {
	ids     cursor.IDOrder
	seen    map[string]time.Time // newest UpdatedAt per id seen in this run
	maxSeen cursor.Cursor        // highest position of a committed record
	pending []failedAt           // failed under Skip, kept at the end of a complete run
}

func newUnsorted(ids cursor.IDOrder) *unsorted {
	return &unsorted{ids: ids, seen: map[string]time.Time{}}
}

// check refuses an empty page with more to come: the run would never end.
func (u *unsorted) check(pr pageResult) (bool, error) {
	if len(pr.page.Records) == 0 && pr.page.More {
		return false, fmt.Errorf("read page after %s: unsorted source returned an empty page with more to come", pr.after)
	}
	return !pr.page.More, nil
}

// next is the run's start again: every page is read after it.
func (u *unsorted) next(pr pageResult) cursor.Cursor { return pr.after }

// before filters the page: a later page can still hold records before to.
func (u *unsorted) before(recs []connector.Record, mapped mapResults, to time.Time) ([]connector.Record, mapResults, bool) {
	kept := make([]connector.Record, 0, len(recs))
	keptMapped := mapResults{w: make([]connector.WriteRecord, 0, len(recs)), err: make([]error, 0, len(recs))}
	for i, rec := range recs {
		if rec.UpdatedAt.Before(to) {
			kept = append(kept, rec)
			keptMapped.w = append(keptMapped.w, mapped.w[i])
			keptMapped.err = append(keptMapped.err, mapped.errAt(i))
		}
	}
	return kept, keptMapped, false
}

// skip reports an older or equal version of a record already seen this run.
func (u *unsorted) skip(rec connector.Record) bool {
	if t, ok := u.seen[rec.ID]; ok && !rec.UpdatedAt.After(t) {
		return true
	}
	u.seen[rec.ID] = rec.UpdatedAt
	return false
}

// commit remembers the highest position and the failed ids; nothing moves yet.
func (u *unsorted) commit(recs []connector.Record, failed []failedAt) (cursor.Cursor, bool, []failedAt) {
	u.pending = append(u.pending, failed...)
	for _, rec := range recs {
		if cursor.Compare(rec.Cursor(), u.maxSeen, u.ids) > 0 {
			u.maxSeen = rec.Cursor()
		}
	}
	return cursor.Cursor{}, false, nil
}

// complete releases the highest position seen and the failed ids.
func (u *unsorted) complete() (cursor.Cursor, bool, []failedAt) {
	return u.maxSeen, true, u.pending
}
