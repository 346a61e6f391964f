package engine

import "slices"

// failedKeys is the checkpoint's list of source ids that failed under policy Skip, oldest
// first, without duplicates and at most limit long (the oldest are dropped first).
type failedKeys struct {
	limit int
	ids   []string
	set   map[string]struct{}
}

func newFailedKeys(ids []string, limit int) *failedKeys {
	f := &failedKeys{limit: limit, set: make(map[string]struct{}, len(ids))}
	for _, id := range ids {
		f.add(id)
	}
	return f
}

// add appends id as the newest entry (moving it if present) and drops the oldest past the
// limit. It reports whether the list changed.
func (f *failedKeys) add(id string) bool {
	if _, ok := f.set[id]; ok {
		if f.ids[len(f.ids)-1] == id {
			return false
		}
		f.remove(id)
	}
	f.ids = append(f.ids, id)
	f.set[id] = struct{}{}
	for len(f.ids) > f.limit {
		delete(f.set, f.ids[0])
		f.ids = f.ids[1:]
	}
	return true
}

// remove drops id and reports whether it was there.
func (f *failedKeys) remove(id string) bool {
	if _, ok := f.set[id]; !ok {
		return false
	}
	delete(f.set, id)
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
