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
	"slices"
	"strconv"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/lru"
)

// Table holds the label sets and owner references shared last, up to its size of each;
// one forgotten is only shared no more (the objects that hold it keep it). Safe for
// concurrent use: the informers of several kinds share one Table.
type Table struct {
	labels *lru.Cache // labelsKey → map[string]string
	owners *lru.Cache // ownersKey → []metav1.OwnerReference
}

// New returns a Table that remembers up to size label sets and size owner reference lists.
// Size it to the objects created or listed close together for different owners: with one
// list per kind streamed at once after a restart, a few thousand.
func New(size int) *Table {
	return &Table{labels: lru.New(size), owners: lru.New(size)}
}

// Share gives obj the labels and owner references the Table holds when they are equal to
// obj's (otherwise it remembers obj's own), and a namespace string shared process-wide.
// The values obj holds afterwards are shared with other objects and read-only.
func (t *Table) Share(obj metav1.Object) {
	if ns := obj.GetNamespace(); ns != "" {
		obj.SetNamespace(unique.Make(ns).Value())
	}
	if l := obj.GetLabels(); len(l) > 0 {
		k := labelsKey(l)
		if v, ok := t.labels.Get(k); ok {
			obj.SetLabels(v.(map[string]string))
		} else {
			t.labels.Add(k, l)
		}
	}
	if o := obj.GetOwnerReferences(); len(o) > 0 {
		k := ownersKey(o)
		if v, ok := t.owners.Get(k); ok {
			obj.SetOwnerReferences(v.([]metav1.OwnerReference))
		} else {
			t.owners.Add(k, slices.Clip(o))
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

// labelsKey is a string equal for two label sets exactly when they are equal: the pairs in
// key order, each string prefixed with its length.
func labelsKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = appendString(appendString(b, k), l[k])
	}
	return string(b)
}

// ownersKey is a string equal for two owner reference lists exactly when they are equal,
// field by field and in order.
func ownersKey(refs []metav1.OwnerReference) string {
	var b []byte
	for _, r := range refs {
		b = appendString(b, r.APIVersion)
		b = appendString(b, r.Kind)
		b = appendString(b, r.Name)
		b = appendString(b, string(r.UID))
		b = appendBool(b, r.Controller)
		b = appendBool(b, r.BlockOwnerDeletion)
	}
	return string(b)
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendBool tells unset, false and true apart.
func appendBool(b []byte, p *bool) []byte {
	switch {
	case p == nil:
		return append(b, '-')
	case *p:
		return append(b, 't')
	default:
		return append(b, 'f')
	}
}
