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
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/lru"
)

// Table holds the label sets and owner reference lists shared last, up to its size of each;
// one forgotten is only shared no more (the objects that hold it keep it). They are found
// by a hash and shared only when equal, so a collision costs a missed share, never a wrong
// one. Safe for concurrent use: the informers of several kinds share one Table.
type Table struct {
	labels *lru.Cache // hash → map[string]string
	owners *lru.Cache // hash → []metav1.OwnerReference
	seed   maphash.Seed
	// mix combines a hash with the next element's (tests make every value collide).
	mix func(h, next uint64) uint64
}

// New returns a Table that remembers up to size label sets and size owner reference lists,
// about 100 bytes each. Size it above the number of owners whose objects may arrive far
// apart: after a restart each kind's list streams at its own pace.
func New(size int) *Table {
	return &Table{labels: lru.New(size), owners: lru.New(size), seed: maphash.MakeSeed(), mix: mix}
}

// Share gives obj the labels and owner references the Table holds when they are equal to
// obj's (otherwise it remembers obj's own), and a namespace string shared process-wide.
// The values obj holds afterwards are shared with other objects and read-only.
func (t *Table) Share(obj metav1.Object) {
	if ns := obj.GetNamespace(); ns != "" {
		obj.SetNamespace(unique.Make(ns).Value())
	}
	if l := obj.GetLabels(); len(l) > 0 {
		h := t.labelsHash(l)
		if v, ok := t.labels.Get(h); !ok {
			t.labels.Add(h, l)
		} else if held := v.(map[string]string); maps.Equal(held, l) {
			obj.SetLabels(held)
		}
	}
	if o := obj.GetOwnerReferences(); len(o) > 0 {
		h := t.ownersHash(o)
		if v, ok := t.owners.Get(h); !ok {
			t.owners.Add(h, slices.Clip(o))
		} else if held := v.([]metav1.OwnerReference); slices.EqualFunc(held, o, sameOwner) {
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
