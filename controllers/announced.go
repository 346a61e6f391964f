package controllers

import (
	"crypto/sha256"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// announcements remembers, per SyncJob, the last condition the controller announced with
// an Event. The Ready condition the reconcile compares with comes from the cache, which
// may not show yet the status the previous reconcile wrote; without this memory the same
// change would be announced again by every reconcile until the cache caught up. It is
// only a guard against repeats: after a restart it is empty, and the stored status
// decides alone. The zero value is ready to use; it holds one entry per SyncJob, removed
// when the SyncJob is gone, of a fixed size (a digest per condition type, not the
// condition's text): at 10,000 SyncJobs a map of maps of strings was 10 MiB of the
// manager's heap.
type announcements struct {
	mu   sync.Mutex
	last map[types.NamespacedName]*announcedSlots
}

// announcedSlots holds what was last announced for one SyncJob, one slot per condition
// type that is announced (Ready, Drifted) and one for any other type.
type announcedSlots [3]announced

// announced is what an Event told: the SyncJob's UID and a digest of the condition's
// type, status, reason and message. The zero value is "nothing announced".
type announced struct {
	uid types.UID
	sum [sha256.Size]byte
}

// slot is the index in announcedSlots of a condition type.
func slot(conditionType string) int {
	switch conditionType {
	case syncv1.ConditionReady:
		return 0
	case syncv1.ConditionDrifted:
		return 1
	}
	return 2
}

// announcedAs is the record of announcing c for the SyncJob of UID uid. The fields are
// separated by a byte no condition text holds, so that two different conditions never
// have the same record.
func announcedAs(uid types.UID, c metav1.Condition) announced {
	text := c.Type + "\x00" + string(c.Status) + "\x00" + c.Reason + "\x00" + c.Message
	return announced{uid: uid, sum: sha256.Sum256([]byte(text))}
}

// first reports whether c is not what was last announced for the SyncJob (key, uid) and
// condition type c.Type, and records it as announced.
func (a *announcements) first(key types.NamespacedName, uid types.UID, c metav1.Condition) bool {
	now := announcedAs(uid, c)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		a.last = map[types.NamespacedName]*announcedSlots{}
	}
	slots := a.last[key]
	if slots == nil {
		slots = &announcedSlots{}
		a.last[key] = slots
	}
	i := slot(c.Type)
	if slots[i] == now {
		return false
	}
	slots[i] = now
	return true
}

// forget drops what was announced for a SyncJob that no longer exists.
func (a *announcements) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, key)
}
