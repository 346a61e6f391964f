package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// digestOf is the fakes' digest: exact (the sorted keys themselves), so that equal
// digests mean equal sets unless a test makes one lie.
func digestOf(method string, keys iter.Seq2[string, error]) (connector.KeyDigest, error) {
	var all []string
	for k, err := range keys {
		if err != nil {
			return connector.KeyDigest{}, err
		}
		all = append(all, k)
	}
	slices.Sort(all)
	return connector.KeyDigest{Method: method, Keys: int64(len(all)), Digest: strings.Join(all, "\n")}, nil
}

// digester is how a fake side digests: by method (exactly), by a fixed digest (lie), or
// not at all (err).
type digester struct {
	method string
	lie    *connector.KeyDigest
	err    error
	lists  *atomic.Int32 // key listings started (digests excluded)
}

func (d digester) digest(keys iter.Seq2[string, error]) (connector.KeyDigest, error) {
	switch {
	case d.err != nil:
		return connector.KeyDigest{}, d.err
	case d.lie != nil:
		return *d.lie, nil
	}
	return digestOf(d.method, keys)
}

// digestSourceKeys is sourceKeys that digests its keys and counts its listings.
type digestSourceKeys struct {
	sourceKeys
	d digester
}

func (k digestSourceKeys) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	k.d.lists.Add(1)
	return k.sourceKeys.Keys(ctx, after)
}

func (k digestSourceKeys) KeyDigest(ctx context.Context, _ [2]int64) (connector.KeyDigest, error) {
	return k.d.digest(k.sourceKeys.Keys(ctx, ""))
}

// digestSink is keySink that digests its keys and counts its listings.
type digestSink struct {
	keySink
	d digester
}

func (s digestSink) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	s.d.lists.Add(1)
	return s.keySink.Keys(ctx, after)
}

func (s digestSink) KeyDigest(ctx context.Context, _ [2]int64) (connector.KeyDigest, error) {
	return s.d.digest(s.keySink.Keys(ctx, ""))
}

// TestFullReconcileByKeyDigests: equal digests of both sides end the reconciliation without
// listing a key; anything else (digests that differ, other methods, a side that cannot
// digest or fails to) lists and merges the keys, which alone decide the deletes: a digest
// never deletes a key, and one that lies cannot make a key present in the source deleted.
func TestFullReconcileByKeyDigests(t *testing.T) {
	lie := &connector.KeyDigest{Method: "m", Keys: 1, Digest: "same"}
	for _, tc := range []struct {
		name          string
		extra         []string // sink keys the source lacks
		src, dst      digester
		srcCannot     bool // the source lists its keys but cannot digest them
		wantListed    bool
		wantDeleted   int64
		wantRemaining int
	}{
		{name: "equal key sets: nothing listed", src: digester{method: "m"}, dst: digester{method: "m"}, wantRemaining: 30},
		{name: "a key absent from the source: merged, deleted", extra: []string{"src:gone"},
			src: digester{method: "m"}, dst: digester{method: "m"}, wantListed: true, wantDeleted: 1, wantRemaining: 30},
		{name: "digests by other methods: merged", src: digester{method: "a"}, dst: digester{method: "b"}, wantListed: true, wantRemaining: 30},
		{name: "the sink's digest fails: merged, deleted", extra: []string{"src:gone"},
			src: digester{method: "m"}, dst: digester{method: "m", err: errors.New("function hashtextextended does not exist")},
			wantListed: true, wantDeleted: 1, wantRemaining: 30},
		{name: "the source cannot digest: merged, deleted", extra: []string{"src:gone"}, srcCannot: true,
			dst: digester{method: "m"}, wantListed: true, wantDeleted: 1, wantRemaining: 30},
		{name: "digests that lie equal: nothing deleted", extra: []string{"src:gone"},
			src: digester{lie: lie}, dst: digester{lie: lie}, wantRemaining: 31},
		{name: "digests that lie unequal: merged, only the absent key deleted", extra: []string{"src:gone"},
			src: digester{method: "m"}, dst: digester{lie: lie}, wantListed: true, wantDeleted: 1, wantRemaining: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e, cfg, _ := deletesEnv(t, 30, tc.extra...)
			var lists atomic.Int32
			tc.src.lists, tc.dst.lists = &lists, &lists
			cfg.Sink = digestSink{keySink: keySink{e.sink}, d: tc.dst}
			if tc.srcCannot {
				cfg.Deletes.SourceKeys = countingKeys{sourceKeys{e.src}, &lists}
			} else {
				cfg.Deletes.SourceKeys = digestSourceKeys{sourceKeys: sourceKeys{e.src}, d: tc.src}
			}
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Deleted).To(Equal(tc.wantDeleted))
			g.Expect(e.sink.snapshot()).To(HaveLen(tc.wantRemaining))
			for i := 1; i <= 30; i++ {
				g.Expect(e.sink.snapshot()).To(HaveKey(mapRecord(e.src.recs[i-1]).Key), "a key the source holds is never deleted")
			}
			if tc.wantListed {
				g.Expect(lists.Load()).To(BeNumerically(">=", 2), "both sides' keys are listed and merged")
			} else {
				g.Expect(lists.Load()).To(BeZero(), "no key is listed")
			}
			g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(0), "the reconciliation completed")
		})
	}
}

// countingKeys is sourceKeys without a digest, counting its listings.
type countingKeys struct {
	sourceKeys
	lists *atomic.Int32
}

func (k countingKeys) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	k.lists.Add(1)
	return k.sourceKeys.Keys(ctx, after)
}

// TestPrefixedKeysDigest: the keys of a source field are digested by the source when it
// can (connector.FieldDigester), with the field and the prefix; otherwise they are not a
// connector.KeyDigester at all.
func TestPrefixedKeysDigest(t *testing.T) {
	g := NewWithT(t)
	src := &fieldDigestSource{}
	keys := PrefixedKeys(src, "id", "inv_")
	kd, ok := keys.(connector.KeyDigester)
	g.Expect(ok).To(BeTrue())
	d, err := kd.KeyDigest(context.Background(), [2]int64{1, 2})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d).To(Equal(connector.KeyDigest{Method: "f", Keys: 2, Digest: "id|inv_|1|2"}))
	_, ok = PrefixedKeys(plainFieldSource{}, "id", "inv_").(connector.KeyDigester)
	g.Expect(ok).To(BeFalse())
}

type plainFieldSource struct{}

func (plainFieldSource) FieldValues(context.Context, string, string) iter.Seq2[string, error] {
	return seqOf(nil)
}

type fieldDigestSource struct{ plainFieldSource }

func (*fieldDigestSource) FieldDigest(_ context.Context, field, prefix string, seeds [2]int64) (connector.KeyDigest, error) {
	return connector.KeyDigest{Method: "f", Keys: 2, Digest: field + "|" + prefix + "|" + fmt.Sprint(seeds[0]) + "|" + fmt.Sprint(seeds[1])}, nil
}
