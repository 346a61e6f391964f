package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// streamOf is a HashStreamer yielding entries in order, then err if set.
type streamOf struct {
	entries []connector.KeyHash
	err     error
}

func (s streamOf) StreamHashes(context.Context) iter.Seq2[connector.KeyHash, error] {
	return func(yield func(connector.KeyHash, error) bool) {
		for _, e := range s.entries {
			if !yield(e, nil) {
				return
			}
		}
		if s.err != nil {
			yield(connector.KeyHash{}, s.err)
		}
	}
}

func keyN(i int) string  { return fmt.Sprintf("k%07d", i) }
func hashN(i int) string { return fmt.Sprintf("h%d", i) }

// TestHashWindow: the window meets every key of a stream in the scan's order; a key moved
// far away, absent from the stream, or after the stream failed is missing (looked up by
// key), never given another key's hash; keys the scan never asks for, one for every four
// asked, do not keep it from meeting the others.
func TestHashWindow(t *testing.T) {
	const n = 100_000
	type entry = connector.KeyHash
	inOrder := func(skip func(i int) bool, extra func(i int) []entry) []entry {
		var out []entry
		for i := 0; i < n; i++ {
			if skip == nil || !skip(i) {
				out = append(out, entry{Key: keyN(i), Hash: hashN(i)})
			}
			if extra != nil {
				out = append(out, extra(i)...)
			}
		}
		return out
	}
	moved := func(i int) bool { return i%100 == 37 }
	var movedTail []entry
	for i := 0; i < n; i++ {
		if moved(i) {
			movedTail = append(movedTail, entry{Key: keyN(i), Hash: hashN(i)})
		}
	}
	never := func(int) bool { return false }
	cases := []struct {
		name    string
		stream  streamOf
		missing func(i int) bool // must be missing
		mayMiss func(i int) bool // may be missing or met (with its own hash)
	}{
		{"in order", streamOf{entries: inOrder(nil, nil)}, never, never},
		// (the last of them are met when the window reaches the stream's tail)
		{"every 100th moved to the end", streamOf{entries: append(inOrder(moved, nil), movedTail...)},
			func(i int) bool { return moved(i) && i < n-2*windowPending }, moved},
		{"every 10th absent", streamOf{entries: inOrder(func(i int) bool { return i%10 == 3 }, nil)}, func(i int) bool { return i%10 == 3 }, never},
		{"a key never asked after every 4th", streamOf{entries: inOrder(nil, func(i int) []entry {
			if i%4 == 0 {
				return []entry{{Key: "gone" + keyN(i), Hash: "x"}}
			}
			return nil
		})}, never, never},
		{"the stream fails half way", streamOf{entries: inOrder(nil, nil)[:n/2], err: errors.New("boom")}, func(i int) bool { return i >= n/2 }, never},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			w := newHashWindow(context.Background(), tc.stream)
			defer w.close()
			for lo := 0; lo < n; lo += 1000 {
				keys := make([]string, 1000)
				for j := range keys {
					keys[j] = keyN(lo + j)
				}
				found := make([]string, len(keys))
				missing := w.lookup(keys, found)
				var want []int
				for j := range keys {
					if !tc.missing(lo+j) && found[j] == "" && slices.Contains(missing, j) && tc.mayMiss(lo+j) {
						want = append(want, j)
						continue
					}
					if tc.missing(lo + j) {
						want = append(want, j)
						g.Expect(found[j]).To(BeEmpty(), "key %d", lo+j)
						continue
					}
					g.Expect(found[j]).To(Equal(hashN(lo+j)), "key %d", lo+j)
				}
				g.Expect(missing).To(Equal(want), "page at %d", lo)
				g.Expect(len(w.seen)).To(BeNumerically("<=", windowPending))
			}
		})
	}
}
