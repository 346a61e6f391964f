package controllers

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// announcements remembers, per SyncJob, the last condition the controller announced with
// an Event. The Ready condition the reconcile compares with comes from the cache, which
// may not show yet the status the previous reconcile wrote; without this memory the same
// change would be announced again by every reconcile until the cache caught up. It is
// only a guard against repeats: after a restart it is empty, and the stored status
// decides alone. The zero value is ready to use; it holds one entry per SyncJob and
// condition type, removed when the SyncJob is gone.
type announcements struct {
	mu   sync.Mutex
	last map[types.NamespacedName]map[string]announced
}

// announced is what an Event told: the SyncJob's UID and the condition's status, reason
// and message.
type announced struct {
	uid                     types.UID
	status, reason, message string
}

// first reports whether c is not what was last announced for the SyncJob (key, uid) and
// condition type c.Type, and records it as announced.
func (a *announcements) first(key types.NamespacedName, uid types.UID, c metav1.Condition) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := announced{uid: uid, status: string(c.Status), reason: c.Reason, message: c.Message}
	if a.last == nil {
		a.last = map[types.NamespacedName]map[string]announced{}
	}
	byType := a.last[key]
	if byType == nil {
		byType = map[string]announced{}
		a.last[key] = byType
	}
	if byType[c.Type] == now {
		return false
	}
	byType[c.Type] = now
	return true
}

// forget drops what was announced for a SyncJob that no longer exists.
func (a *announcements) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, key)
}
