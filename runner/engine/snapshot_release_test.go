package engine

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// recyclingDigestSource is a digestSource that takes Fields maps back (FieldsRecycler,
// Recycler), counting each map handed back.
type recyclingDigestSource struct {
	*digestSource
	mu       sync.Mutex
	returned map[uintptr]int // a map's identity -> times handed back
}

func (s *recyclingDigestSource) RecycleFields(recs []connector.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		if m := recs[i].Fields; m != nil {
			s.returned[reflect.ValueOf(m).Pointer()]++
		}
		recs[i].Fields = nil
	}
}

func (s *recyclingDigestSource) Recycle(recs []connector.Record) { s.RecycleFields(recs) }

// TestSnapshotDigestsHandFieldsBackOnce: a page of digests hands the Fields maps of the
// records it decoded back once it is mapped and checked, before it is written: every map
// exactly once, whether the whole page was decoded (a load) or only its changed records
// were (their copies handed back, the page forgetting them too); the sink holds the
// changed values.
func TestSnapshotDigestsHandFieldsBackOnce(t *testing.T) {
	g := NewWithT(t)
	e, _, cfg := rowHashEnv(40)
	src := &recyclingDigestSource{digestSource: &digestSource{scanSource: cfg.Source.(*scanSource)}, returned: map[uintptr]int{}}
	cfg.Source, cfg.PageSize = src, 50

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(40)))
	g.Expect(src.returned).To(HaveLen(40), "every decoded record's map handed back")
	for _, n := range src.returned {
		g.Expect(n).To(Equal(1), "a map handed back once")
	}

	e.src.mu.Lock()
	recs := slices.Clone(e.src.recs)
	e.src.mu.Unlock()
	for _, i := range []int{3, 17} {
		recs[i].Fields = map[string]any{"n": recs[i].Fields["n"], "v": "changed"}
	}
	e.src.set(recs)
	src.returned = map[uintptr]int{}
	src.decoded.Store(0)
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(2)))
	g.Expect(src.decoded.Load()).To(Equal(int64(2)))
	g.Expect(src.returned).To(HaveLen(2), "the two decoded records' maps handed back")
	for _, n := range src.returned {
		g.Expect(n).To(Equal(1), "a map handed back once")
	}
	rows := e.sink.snapshot()
	g.Expect(rows["src:"+recs[3].ID].Values).To(HaveKeyWithValue("v", "changed"))
	g.Expect(rows["src:"+recs[17].ID].Values).To(HaveKeyWithValue("v", "changed"))
}
