package keymerge

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"testing"

	. "github.com/onsi/gomega"
)

func seq(keys ...string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, k := range keys {
			if !yield(k, nil) {
				return
			}
		}
	}
}

func failing(after int, keys ...string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for i, k := range keys {
			if i == after {
				yield("", errors.New("connection reset"))
				return
			}
			if !yield(k, nil) {
				return
			}
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst iter.Seq2[string, error]
		want     []string
		err      string
	}{
		{name: "both empty", src: seq(), dst: seq()},
		{name: "source empty: every sink key is sink-only", src: seq(), dst: seq("a", "b"),
			want: []string{"a sink-only", "b sink-only"}},
		{name: "sink empty", src: seq("a", "b"), dst: seq(),
			want: []string{"a source-only", "b source-only"}},
		{name: "interleaved", src: seq("a", "c", "d", "f"), dst: seq("b", "c", "e", "f", "g"),
			want: []string{"a source-only", "b sink-only", "c both", "d source-only", "e sink-only", "f both", "g sink-only"}},
		{name: "byte order, not numeric: billing:10 < billing:9", src: seq("billing:10", "billing:9"), dst: seq("billing:10", "billing:11", "billing:9"),
			want: []string{"billing:10 both", "billing:11 sink-only", "billing:9 both"}},
		{name: "upper case sorts before lower case in byte order", src: seq("B", "a"), dst: seq("B", "a"),
			want: []string{"B both", "a both"}},
		{name: "empty key is a key", src: seq("", "a"), dst: seq("a"),
			want: []string{" source-only", "a both"}},
		{name: "source out of order stops the merge", src: seq("b", "a"), dst: seq("a", "b"),
			want: []string{"a sink-only", "b both"}, err: `source keys are not ascending in byte order: "a" after "b"`},
		{name: "sink duplicates stop the merge", src: seq("a", "b"), dst: seq("a", "a"),
			want: []string{"a both"}, err: `sink keys are not ascending in byte order: "a" after "a"`},
		{name: "collation order (a < B) from the sink is refused before any delete", src: seq(), dst: seq("a", "B"),
			want: []string{"a sink-only"}, err: `sink keys are not ascending in byte order: "B" after "a"`},
		{name: "a stream error ends the merge", src: seq("a", "b", "c"), dst: failing(1, "a", "b"),
			want: []string{"a both"}, err: `list sink keys after "a": connection reset`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := []string{}
			err := Keys(context.Background(), tc.src, tc.dst, func(k string, s Side) error {
				got = append(got, k+" "+s.String())
				return nil
			})
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			if tc.want == nil {
				tc.want = []string{}
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestMergeCarriesItems(t *testing.T) {
	g := NewWithT(t)
	type hashed struct{ k, h string }
	src := func(yield func(hashed, error) bool) {
		_ = yield(hashed{"a", "1"}, nil) && yield(hashed{"b", "2"}, nil)
	}
	key := func(h hashed) string { return h.k }
	var got []string
	err := Merge(context.Background(), src, key, seq("b", "c"), func(s string) string { return s },
		func(k string, a *hashed, b *string) error {
			got = append(got, fmt.Sprintf("%s %v %v", k, a != nil && a.h != "", b != nil))
			return nil
		})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]string{"a true false", "b true true", "c false true"}))
}

func TestCallbackErrorStops(t *testing.T) {
	g := NewWithT(t)
	n := 0
	err := Keys(context.Background(), seq("a", "b"), seq("a", "b"), func(string, Side) error {
		n++
		return errors.New("sink refused")
	})
	g.Expect(err).To(MatchError("sink refused"))
	g.Expect(n).To(Equal(1))
}

// generated yields n keys "k%09d" (ascending in byte order), those with i%mod == skip
// left out (skip < 0: none).
func generated(n, mod, skip int) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		buf := make([]byte, 0, 16)
		for i := range n {
			if skip >= 0 && i%mod == skip {
				continue
			}
			buf = fmt.Appendf(buf[:0], "k%09d", i)
			if !yield(string(buf), nil) {
				return
			}
		}
	}
}

// TestMillionKeysBoundedMemory merges 1M generated keys on each side (every 100th key
// missing from the source) and asserts the live heap does not grow with the key count: a
// merge that kept a map or a slice of the keys would hold well over 16 MiB here.
func TestMillionKeysBoundedMemory(t *testing.T) {
	g := NewWithT(t)
	const n = 1_000_000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	var sinkOnly, both int
	err := Keys(context.Background(), generated(n, 100, 7), generated(n, 1, -1), func(_ string, s Side) error {
		switch s {
		case SinkOnly:
			sinkOnly++
		case Both:
			both++
		}
		if (sinkOnly+both)%100_000 == 0 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		return nil
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sinkOnly).To(Equal(n / 100))
	g.Expect(both).To(Equal(n - n/100))
	g.Expect(peak).To(BeNumerically(">", 0))
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use before %d B, peak during the merge %d B, growth %d B", before.HeapInuse, peak, growth)
	g.Expect(growth).To(BeNumerically("<", 4<<20), "the merge's live heap must not grow with the number of keys")
}

// TestStreamsEndBeforeMergeReturns: the streams run in their own goroutines; when the
// merge stops early (a callback error) or ends, both have returned (their connections
// released) before Merge returns, and a stream stopped early saw its yield return false.
func TestStreamsEndBeforeMergeReturns(t *testing.T) {
	g := NewWithT(t)
	var ended [2]bool
	var stopped bool
	long := func(i int) iter.Seq2[string, error] {
		return func(yield func(string, error) bool) {
			defer func() { ended[i] = true }()
			for k := range 100_000 {
				if !yield(fmt.Sprintf("k%09d", k), nil) {
					stopped = true
					return
				}
			}
		}
	}
	n := 0
	err := Keys(context.Background(), long(0), long(1), func(string, Side) error {
		if n++; n == 10 {
			return errors.New("stop here")
		}
		return nil
	})
	g.Expect(err).To(MatchError("stop here"))
	g.Expect(ended).To(Equal([2]bool{true, true}))
	g.Expect(stopped).To(BeTrue())

	ended = [2]bool{}
	g.Expect(Keys(context.Background(), long(0), long(1), func(string, Side) error { return nil })).To(Succeed())
	g.Expect(ended).To(Equal([2]bool{true, true}))
}
