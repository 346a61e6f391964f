package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// streamOf is a HashStreamer yielding entries in order, in runs of three pairs whose
// memory it reuses (scrambled before the next run), then err if set.
type streamOf struct {
	entries []entry
	err     error
}

// entry is a stored key and hash.
type entry struct{ Key, Hash string }

func (s streamOf) StreamHashes(context.Context) iter.Seq2[connector.KeyHashRun, error] {
	return func(yield func(connector.KeyHashRun, error) bool) {
		var run connector.KeyHashRun
		for i, e := range s.entries {
			run.Append([]byte(e.Key), []byte(e.Hash))
			if run.Len() == 3 || i == len(s.entries)-1 {
				if !yield(run, nil) {
					return
				}
				for j := range run.Buf {
					run.Buf[j] = '?'
				}
				run.Reset()
			}
		}
		if s.err != nil {
			yield(connector.KeyHashRun{}, s.err)
		}
	}
}

func keyN(i int) string  { return fmt.Sprintf("k%07d", i) }
func hashN(i int) string { return fmt.Sprintf("%032x", i) }

// TestHashWindow: the window meets every key of a stream in the scan's order; a key moved
// far away, absent from the stream, or after the stream failed is missing (looked up by
// key), never given another key's hash; keys the scan never asks for, one for every four
// asked, do not keep it from meeting the others.
func TestHashWindow(t *testing.T) {
	const n = 100_000
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
				found := make([]storedHash, len(keys))
				missing := w.lookup(keys, found)
				var want []int
				for j := range keys {
					if !tc.missing(lo+j) && found[j] == (storedHash{}) && slices.Contains(missing, j) && tc.mayMiss(lo+j) {
						want = append(want, j)
						continue
					}
					if tc.missing(lo + j) {
						want = append(want, j)
						g.Expect(found[j]).To(BeZero(), "key %d", lo+j)
						continue
					}
					g.Expect(found[j]).To(Equal(storedOf(hashN(lo+j))), "key %d", lo+j)
					g.Expect(found[j].set).To(BeTrue())
				}
				g.Expect(missing).To(Equal(want), "page at %d", lo)
				g.Expect(len(w.seen)).To(BeNumerically("<=", windowPending))
			}
		})
	}
}

// digestSource is a scanSource that also reads pages as digests: a record's digest is the
// SHA-256 of the seed and its RowHash, and Record returns a copy of the record read.
type digestSource struct {
	*scanSource
	decoded   atomic.Int64
	badDecode string // the id of a record that cannot be decoded
	// released counts the pages released (HashedPage.Release), twice those released more
	// than once. A page released zeroes its ids and digests and decodes no record any
	// more, as a source reusing its memory would.
	released, twice atomic.Int64
}

func fakeDigest(seed string, r connector.Record) [16]byte {
	sum := sha256.Sum256([]byte(seed + "|" + RowHash("", r)))
	return [16]byte(sum[:16])
}

func (s *digestSource) ScanHashed(ctx context.Context, afterID string, limit int, seed string) (connector.HashedPage, error) {
	p, err := s.ScanPage(ctx, afterID, limit)
	if err != nil {
		return connector.HashedPage{}, err
	}
	hp := connector.HashedPage{More: p.More}
	for _, r := range p.Records {
		hp.IDs = append(hp.IDs, r.ID)
		hp.Sums = append(hp.Sums, fakeDigest(seed, r))
	}
	recs := p.Records
	var gone atomic.Bool
	sums, ids := hp.Sums, hp.IDs
	hp.Release = func() {
		if gone.Swap(true) {
			s.twice.Add(1)
			return
		}
		s.released.Add(1)
		clear(sums)
		clear(ids)
	}
	hp.Record = func(i int) (connector.Record, error) {
		if gone.Load() {
			return connector.Record{}, errors.New("record of a page released")
		}
		s.decoded.Add(1)
		r := recs[i]
		if r.ID == s.badDecode {
			return connector.Record{}, errors.New("corrupt row")
		}
		r.Fields = maps.Clone(r.Fields)
		return r, nil
	}
	return hp, nil
}

func (s *digestSource) EndScan() {}

// idKeyMapper is a keyMapper that says its keys are "src:" + the id (IDKeyMapper).
type idKeyMapper struct{ *keyMapper }

func (idKeyMapper) IDKeyPrefix() (string, bool) { return "src:", true }

// TestSnapshotDigestsUnderFaults runs random fault schedules (a batch error after a partial
// write, record failures in the mapper and in the sink, a cancellation after some page,
// source updates between runs) over a source read as digests, reruns until a run succeeds,
// and checks that the sink then holds exactly the mapped source, each row with the digest
// of its source record, no failed keys are left, and a last run decodes nothing; pages are
// released once each, and a page's ids, digests and records are not read after its
// release (the source zeroes the ids and digests and refuses the records). Half the
// seeds make the keys of a page from its ids (IDKeyMapper).
func TestSnapshotDigestsUnderFaults(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(seed, 11))
			n := 10 + rng.IntN(40)
			e, km, cfg := rowHashEnv(n)
			src := &digestSource{scanSource: cfg.Source.(*scanSource)}
			cfg.Source = src
			if seed%2 == 0 { // keys made from ids in one string per page
				cfg.Mapper = idKeyMapper{km}
			}
			cfg.PageSize = 1 + rng.IntN(8)
			pages := n/cfg.PageSize + 1
			runUnderFaults(g, rng, e, cfg, n, pages)
			_, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			src.decoded.Store(0)
			src.released.Store(0)
			res, err := Run(context.Background(), cfg)
			g.Expect(src.released.Load()).To(BeNumerically(">=", n/cfg.PageSize), "every page read is released")
			g.Expect(src.twice.Load()).To(BeZero(), "no page is released twice")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Upserted).To(BeZero(), "nothing left to write")
			g.Expect(res.Record.Unchanged).To(Equal(int64(n)))
			g.Expect(src.decoded.Load()).To(BeZero(), "nothing decoded when nothing changed")
			g.Expect(e.store.get().FailedKeys).To(BeEmpty())
			rows := e.sink.snapshot()
			e.src.mu.Lock()
			recs := slices.Clone(e.src.recs)
			e.src.mu.Unlock()
			g.Expect(rows).To(HaveLen(len(recs)))
			for _, r := range recs {
				w := rows["src:"+r.ID]
				g.Expect(w.Values).To(Equal(r.Fields), "row %s holds its source record", r.ID)
				sum := fakeDigest("fp1", r)
				g.Expect(w.Hash).To(Equal(hex.EncodeToString(sum[:])), "row %s holds the digest of its source record", r.ID)
			}
		})
	}
}

// TestSnapshotDigestsRecordErrors: over a source read as digests, a record that does not
// map fails in every run (it never has a stored hash) and is the only one decoded; once it
// maps it is written and settles with its digest. A record that cannot be decoded fails
// its page as a source error: nothing of it is written.
func TestSnapshotDigestsRecordErrors(t *testing.T) {
	g := NewWithT(t)
	e, _, cfg := rowHashEnv(12)
	src := &digestSource{scanSource: cfg.Source.(*scanSource)}
	cfg.Source, cfg.PageSize = src, 50
	e.mp.fail = map[string]bool{"7": true}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(11)))
	g.Expect(res.Record.Failed).To(Equal(int64(1)))
	g.Expect(e.store.get().FailedKeys).To(ConsistOf("7"))

	src.decoded.Store(0)
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Failed).To(BeNumerically(">=", 1), "the failing record fails again")
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(src.decoded.Load()).To(Equal(int64(1)), "only the failing record is decoded")

	e.mp.mu.Lock()
	e.mp.fail = nil
	e.mp.mu.Unlock()
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Failed).To(BeZero())
	g.Expect(e.store.get().FailedKeys).To(BeEmpty())
	for range 2 { // the retry from the failed keys stores RowHash's form; the scan then its digest
		if res, err = Run(context.Background(), cfg); err != nil || res.Record.Upserted == 0 {
			break
		}
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(BeZero())
	row := e.sink.snapshot()["src:7"]
	g.Expect(row.Values).To(Equal(map[string]any{"n": int64(7), "v": "v0"}))
	sum := fakeDigest("fp1", genRecords(12, 1)[6])
	g.Expect(row.Hash).To(Equal(hex.EncodeToString(sum[:])))

	e2, _, cfg2 := rowHashEnv(12)
	src2 := &digestSource{scanSource: cfg2.Source.(*scanSource), badDecode: "5"}
	cfg2.Source, cfg2.PageSize = src2, 50
	res, err = Run(context.Background(), cfg2)
	g.Expect(err).To(HaveOccurred())
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(err.Error()).To(ContainSubstring("decode record 5"))
	g.Expect(e2.sink.snapshot()).To(BeEmpty(), "nothing of the page is written")
}

// TestStoredHashEquals: a stored hash equals a digest only as the digest's lower-case
// hex, in full, whether read as a string or as bytes.
func TestStoredHashEquals(t *testing.T) {
	g := NewWithT(t)
	sum := [16]byte{0x00, 0x01, 0x9a, 0xff, 0x10, 0xab, 0xcd, 0xef, 0x23, 0x45, 0x67, 0x89, 0xfe, 0xdc, 0xba, 0x98}
	enc := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		h    string
		want bool
	}{
		{enc, true},
		{"", false},
		{enc[:31], false},
		{enc + "0", false},
		{strings.ToUpper(enc), false},
		{enc[:31] + "9", false},
		{"1" + enc[1:], false},
		{enc[:2] + "10" + enc[4:], false}, // bytes swapped in the second digit pair
		{enc[:31] + "\x00", false},
	} {
		for _, h := range []storedHash{storedOf(tc.h), storedOf([]byte(tc.h))} {
			g.Expect(h.equals(&sum)).To(Equal(tc.want), "%q", tc.h)
		}
	}
	var none storedHash
	g.Expect(none.equals(&[16]byte{})).To(BeFalse(), "no stored hash equals the zero digest")
	for range 1000 {
		var s [16]byte
		for i := range s {
			s[i] = byte(rand.IntN(256))
		}
		h := storedOf(hex.EncodeToString(s[:]))
		g.Expect(h.equals(&s)).To(BeTrue())
		e := storedOf(enc)
		g.Expect(e.equals(&s)).To(Equal(s == sum))
	}
}
