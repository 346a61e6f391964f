package engine

import (
	"context"
	"maps"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// recyclingSource serves fresh Fields maps on every read and poisons the maps handed back
// (connector.Recycler), noting whether each record handed back was already settled: its
// write confirmed by the sink, or its failure recorded.
type recyclingSource struct {
	*fakeSource
	settled func(connector.Record) bool

	mu       sync.Mutex
	back     int      // records handed back
	unsettle []string // ids handed back before they were settled
	nilMaps  int      // records handed back without their map
}

func (s *recyclingSource) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	p, err := s.fakeSource.ReadPage(ctx, after, limit)
	for i := range p.Records {
		p.Records[i].Fields = maps.Clone(p.Records[i].Fields)
	}
	return p, err
}

func (s *recyclingSource) Recycle(recs []connector.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.back++
		if !s.settled(r) {
			s.unsettle = append(s.unsettle, r.ID)
		}
		if r.Fields == nil {
			s.nilMaps++
		}
		for k := range r.Fields {
			r.Fields[k] = "POISON"
		}
	}
}

// TestRecycledPagesAreDone: the engine hands a page's records back to a recycling source
// only once the page is written (each record confirmed by the sink or recorded as failed),
// every page read by the main loop comes back, and nothing of them is used afterwards (the
// source poisons the maps handed back, and the sink still holds exactly the mapped
// source). A dry run hands nothing back.
func TestRecycledPagesAreDone(t *testing.T) {
	for _, dry := range []bool{false, true} {
		g := NewWithT(t)
		e := newEnv(genRecords(47, 3))
		e.mp.fail = set("4", "20")
		e.sink.failAlways = map[string]bool{"31": true}
		src := &recyclingSource{fakeSource: e.src}
		src.settled = func(r connector.Record) bool {
			e.sink.mu.Lock()
			defer e.sink.mu.Unlock()
			_, ok := e.sink.confirmed["src:"+r.ID]
			return ok || e.mp.fail[r.ID] || e.sink.failAlways[r.ID]
		}
		cfg := e.config()
		cfg.Source = src
		cfg.PageSize = 10
		cfg.DryRun = dry
		_, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		if dry {
			g.Expect(src.back).To(BeZero(), "a dry run keeps its records")
			continue
		}
		g.Expect(src.back).To(Equal(47), "every record read comes back once")
		g.Expect(src.unsettle).To(BeEmpty(), "handed back before the page was written")
		g.Expect(src.nilMaps).To(BeZero())
		rows := e.sink.snapshot()
		g.Expect(rows).To(HaveLen(44))
		for _, w := range rows {
			g.Expect(w.Values).NotTo(ContainElement("POISON"), w.Key)
		}
	}
}
