// Package sharedmeta lets the objects a cache keeps share equal metadata. An informer
// decodes every object into maps, slices and strings of its own, though the objects a
// controller makes for one owner carry the same labels and the same owner reference: with
// thousands of owners, those copies are a large part of the cache (each label map alone is
// a few hundred bytes). A Table remembers recently seen label sets and owner references and
// hands an object the one it already holds when they are equal.
//
// What a Table shares must never be modified: objects in a controller-runtime cache are
// read-only (its readers return deep copies), and a transform that shares is the cache's
// last step.
package sharedmeta

import (
	"hash/maphash"
	"maps"
	"math/bits"
	"slices"
	"sync"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// Table holds the label sets and owner reference lists shared last: from size to twice
// size of each (recent); one forgotten is only shared no more (the objects that hold it
// keep it). They are found by a hash and shared only when equal, so a collision costs a
// missed share, never a wrong one. Safe for concurrent use: the informers of several kinds
// share one Table.
type Table struct {
	mu     sync.Mutex
	labels recent[map[string]string]
	owners recent[[]metav1.OwnerReference]
	seed   maphash.Seed
	// mix combines a hash with the next element's (tests make every value collide).
	mix func(h, next uint64) uint64
}

// New returns a Table that remembers at least the last size label sets and size owner
// reference lists it saw, about 40 bytes each beside what they hold. Size it above the
// number of owners whose objects may arrive far apart: after a restart each kind's list
// streams at its own pace.
func New(size int) *Table {
	return &Table{labels: newRecent[map[string]string](size), owners: newRecent[[]metav1.OwnerReference](size),
		seed: maphash.MakeSeed(), mix: mix}
}

// recent remembers values by hash in two generations: a value found in the older one moves
// to the newer; when the newer holds size values it becomes the older and the older is
// forgotten. Cheaper than a list-ordered LRU (no element, no boxed key per value) and as
// good here: what is shared is what arrives close together.
type recent[V any] struct {
	size       int
	cur, older map[uint64]V
}

func newRecent[V any](size int) recent[V] {
	return recent[V]{size: size, cur: map[uint64]V{}}
}

func (r *recent[V]) get(h uint64) (V, bool) {
	if v, ok := r.cur[h]; ok {
		return v, true
	}
	v, ok := r.older[h]
	if ok {
		r.add(h, v)
	}
	return v, ok
}

func (r *recent[V]) add(h uint64, v V) {
	if len(r.cur) >= r.size {
		r.older, r.cur = r.cur, make(map[uint64]V, r.size)
	}
	r.cur[h] = v
}

// Share gives obj the labels and owner references the Table holds when they are equal to
// obj's (otherwise it remembers obj's own), and a namespace string shared process-wide.
// The values obj holds afterwards are shared with other objects and read-only.
func (t *Table) Share(obj metav1.Object) {
	if ns := obj.GetNamespace(); ns != "" {
		obj.SetNamespace(unique.Make(ns).Value())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := obj.GetLabels(); len(l) > 0 {
		h := t.labelsHash(l)
		if held, ok := t.labels.get(h); !ok {
			t.labels.add(h, l)
		} else if maps.Equal(held, l) {
			obj.SetLabels(held)
		}
	}
	if o := obj.GetOwnerReferences(); len(o) > 0 {
		h := t.ownersHash(o)
		if held, ok := t.owners.get(h); !ok {
			t.owners.add(h, slices.Clip(o))
		} else if slices.EqualFunc(held, o, sameOwner) {
			obj.SetOwnerReferences(held)
		}
	}
}

// Transform returns a cache transform that runs next (when not nil) and then shares the
// metadata of the object it returns; a tombstone passes as it is.
func (t *Table) Transform(next toolscache.TransformFunc) toolscache.TransformFunc {
	return func(in any) (any, error) {
		out := in
		if next != nil {
			var err error
			if out, err = next(in); err != nil {
				return out, err
			}
		}
		if obj, ok := out.(metav1.Object); ok {
			t.Share(obj)
		}
		return out, nil
	}
}

// labelsHash does not depend on the map's order: the pairs' hashes are added.
func (t *Table) labelsHash(l map[string]string) uint64 {
	var h uint64
	for k, v := range l {
		h += maphash.Comparable(t.seed, [2]string{k, v})
	}
	return t.mix(0, h)
}

// ownerKey is an owner reference as a comparable value: its flags by value.
type ownerKey struct {
	apiVersion, kind, name string
	uid                    types.UID
	controller, block      int8
}

func keyOf(r metav1.OwnerReference) ownerKey {
	return ownerKey{r.APIVersion, r.Kind, r.Name, r.UID, flag(r.Controller), flag(r.BlockOwnerDeletion)}
}

// flag tells unset, false and true apart.
func flag(p *bool) int8 {
	switch {
	case p == nil:
		return 0
	case *p:
		return 2
	default:
		return 1
	}
}

func (t *Table) ownersHash(refs []metav1.OwnerReference) uint64 {
	var h uint64
	for _, r := range refs {
		h = t.mix(h, maphash.Comparable(t.seed, keyOf(r)))
	}
	return h
}

func sameOwner(a, b metav1.OwnerReference) bool { return keyOf(a) == keyOf(b) }

func mix(h, next uint64) uint64 { return bits.RotateLeft64(h, 17) ^ next }
