package engine

import (
	"slices"
	"time"
)

// failedKeys is the checkpoint's list of source ids that failed under policy Skip, oldest
// first, without duplicates, each with the record's updatedAt when it failed (zero when
// unknown: a key stored before positions were kept). It never drops a key: the run keeps
// it under its bound (run.reserveFailed), and stops before a record it has no room for.
type failedKeys struct {
	ids []string
	at  map[string]time.Time // id -> updatedAt when it failed; every id has an entry
}

// newFailedKeys loads the stored list and positions (positions of ids not in the list are
// ignored).
func newFailedKeys(ids []string, at map[string]time.Time) *failedKeys {
	f := &failedKeys{at: make(map[string]time.Time, len(ids))}
	for _, id := range ids {
		f.add(id, at[id])
	}
	return f
}

// add appends id as the newest entry (moving it if present) with the record's updatedAt
// (a zero updatedAt keeps a known one). It reports whether the list changed.
func (f *failedKeys) add(id string, updatedAt time.Time) bool {
	if old, ok := f.at[id]; ok {
		if updatedAt.IsZero() {
			updatedAt = old
		}
		if f.ids[len(f.ids)-1] == id && old.Equal(updatedAt) {
			return false
		}
		f.remove(id)
	}
	f.ids = append(f.ids, id)
	f.at[id] = updatedAt
	return true
}

// has reports whether id is listed.
func (f *failedKeys) has(id string) bool {
	_, ok := f.at[id]
	return ok
}

// remove drops id and reports whether it was there.
func (f *failedKeys) remove(id string) bool {
	if _, ok := f.at[id]; !ok {
		return false
	}
	delete(f.at, id)
	if i := slices.Index(f.ids, id); i >= 0 {
		f.ids = slices.Delete(f.ids, i, i+1)
	}
	return true
}

func (f *failedKeys) len() int { return len(f.ids) }

// list returns a copy, oldest first; nil when empty.
func (f *failedKeys) list() []string {
	if len(f.ids) == 0 {
		return nil
	}
	return append([]string(nil), f.ids...)
}

// positions returns the known updatedAt of each listed id; nil when none is known.
func (f *failedKeys) positions() map[string]time.Time {
	var out map[string]time.Time
	for id, at := range f.at {
		if at.IsZero() {
			continue
		}
		if out == nil {
			out = make(map[string]time.Time, len(f.at))
		}
		out[id] = at
	}
	return out
}

// oldest returns the earliest known updatedAt and the ids with a known one, and the ids
// whose position is unknown.
func (f *failedKeys) oldest() (oldest time.Time, known, unknown []string) {
	for _, id := range f.ids {
		at := f.at[id]
		if at.IsZero() {
			unknown = append(unknown, id)
			continue
		}
		known = append(known, id)
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest, known, unknown
}
