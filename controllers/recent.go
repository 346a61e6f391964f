package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// recentWriteTTL is how long the controller trusts its memory of an object it applied or
// created over its cache not showing the object. The cache catches up within a second or
// two; a reconcile that trusted the memory asks for another look after this long, so that
// an object deleted before the cache ever showed it is made again then.
const recentWriteTTL = 30 * time.Second

// recentWrites remembers the owned objects the controller applied or created in the last
// recentWriteTTL, until its cache shows them (the pattern of the Kubernetes controllers'
// "expectations"). Right after a reconcile wrote them, the informers may not have
// delivered them yet; a second reconcile in that moment would otherwise read each past the
// cache (refuseForeign) and create the ones only ever created again (AlreadyExists): it
// now knows they exist, are the SyncJob's own, and hold what it applied. The zero value is
// ready to use; entries expire in the order they were written, so it holds at most the
// writes of one TTL.
type recentWrites struct {
	mu    sync.Mutex
	m     map[recentKey]recentWrite
	order []recentSlot // the writes in the order made
}

// recentSlot is one write in recentWrites.order.
type recentSlot struct {
	k  recentKey
	at time.Time
}

// recentKey names an owned object: its kind ("CronJob", "Lease", …) and key.
type recentKey struct {
	kind string
	key  types.NamespacedName
}

// recentWrite is one write: when, and what was written: for an applied object the digest
// of what was applied (digestOf), for a created one the UID of the SyncJob it was made for
// (a SyncJob deleted and made again under its name is not vouched for by the first one's
// writes).
type recentWrite struct {
	at     time.Time
	digest string
}

// record remembers a write of k at now.
func (w *recentWrites) record(k recentKey, digest string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(now)
	if w.m == nil {
		w.m = map[recentKey]recentWrite{}
	}
	w.m[k] = recentWrite{at: now, digest: digest}
	w.order = append(w.order, recentSlot{k, now})
}

// lookup returns the write of k remembered at now, if it is younger than recentWriteTTL.
func (w *recentWrites) lookup(k recentKey, now time.Time) (recentWrite, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(now)
	rw, ok := w.m[k]
	return rw, ok && now.Sub(rw.at) < recentWriteTTL
}

// forget drops the write of k: the cache shows the object now.
func (w *recentWrites) forget(k recentKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, k)
}

// expire drops the writes older than recentWriteTTL at now. w.mu is held.
func (w *recentWrites) expire(now time.Time) {
	n := 0
	for ; n < len(w.order) && now.Sub(w.order[n].at) >= recentWriteTTL; n++ {
		slot := w.order[n]
		if rw, ok := w.m[slot.k]; ok && rw.at.Equal(slot.at) {
			delete(w.m, slot.k) // not written again since (that write has a later slot)
		}
	}
	w.order = w.order[n:] // the array is reallocated, without the dropped slots, as it grows
	if len(w.order) == 0 {
		w.m, w.order = nil, nil // give the memory back once quiet
	}
}

// len is the number of writes remembered (tests).
func (w *recentWrites) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}
