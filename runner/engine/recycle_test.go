package engine

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// recyclingMapper is the fake mapper with ValuesRecycler: it poisons the maps handed back
// and notes maps handed back twice or before their record was confirmed.
type recyclingMapper struct {
	*fakeMapper
	confirmed func(key string) bool

	mapped atomic.Int64

	mu       sync.Mutex
	seen     map[uintptr]bool
	back     int
	twice    int
	unsettle []string
}

func (m *recyclingMapper) RecycleValues(ws []connector.WriteRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range ws {
		m.back++
		p := reflect.ValueOf(w.Values).Pointer()
		if m.seen[p] {
			m.twice++
		}
		m.seen[p] = true
		if !m.confirmed(w.Key) {
			m.unsettle = append(m.unsettle, w.Key)
		}
		for k := range w.Values {
			w.Values[k] = "POISON"
		}
	}
}

func (m *recyclingMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	defer m.mapped.Add(1)
	return m.fakeMapper.Map(r)
}

// releasingSink is the fake sink keeping copies of what it is given, so that it can say it
// keeps nothing of a batch (connector.BatchReleaser). Before returning, it waits until
// the next page is mapped (the read-ahead started before the write is done) and notes a
// batch that changed meanwhile: the read-ahead must never map into the slice being
// written.
type releasingSink struct {
	*fakeSink
	releases bool
	mp       *recyclingMapper
	changed  *atomic.Int64
	calls    *atomic.Int64
	total    int64 // records in the source
	pageSize int64
}

func (s releasingSink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	own := slices.Clone(batch)
	for i := range own {
		own[i].Values = maps.Clone(own[i].Values)
	}
	res, err := s.fakeSink.Upsert(ctx, slices.Clone(own))
	// The next page's read-ahead started before this write: wait for its mappings.
	want := min(s.total, (s.calls.Add(1)+1)*s.pageSize)
	for deadline := time.Now().Add(5 * time.Second); s.mp.mapped.Load() < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	for i := range batch {
		if batch[i].Key != own[i].Key || !maps.Equal(batch[i].Values, own[i].Values) {
			s.changed.Add(1)
		}
	}
	return res, err
}

func (s releasingSink) ReleasesBatches() bool { return s.releases }

// TestRecycledValuesAreDone: the engine hands the Values maps of a written batch back to
// a recycling mapper only when the sink keeps nothing of a batch, only once each (a page
// with mapping failures moves mappings within its slice), only after the sink confirmed
// them, and never uses them again (they are poisoned on return; the sink still holds
// exactly the mapped source); the read-ahead never maps into the slice of the batch being
// written (the slice is reused two pages later). A dry run and a sink that may keep batches get nothing
// handed back.
func TestRecycledValuesAreDone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dry      bool
		releases bool
		want     int
	}{
		{"releasing sink", false, true, 44},
		{"sink may keep batches", false, false, 0},
		{"dry run", true, true, 0},
	} {
		g := NewWithT(t)
		e := newEnv(genRecords(47, 3))
		e.mp.fail = set("4", "20", "21")
		e.sink.failAlways = map[string]bool{"31": true}
		mp := &recyclingMapper{fakeMapper: e.mp, seen: map[uintptr]bool{}}
		mp.confirmed = func(key string) bool {
			e.sink.mu.Lock()
			defer e.sink.mu.Unlock()
			_, ok := e.sink.confirmed[key]
			return ok || key == "src:31"
		}
		var changed atomic.Int64
		cfg := e.config()
		cfg.Mapper = mp
		cfg.Sink = releasingSink{fakeSink: e.sink, releases: tc.releases, mp: mp, changed: &changed,
			calls: &atomic.Int64{}, total: 47, pageSize: 10}
		cfg.PageSize = 10
		cfg.DryRun = tc.dry
		_, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		g.Expect(mp.back).To(Equal(tc.want), tc.name)
		g.Expect(mp.twice).To(BeZero(), tc.name)
		g.Expect(mp.unsettle).To(BeEmpty(), tc.name)
		g.Expect(changed.Load()).To(BeZero(), "%s: a batch changed while it was written", tc.name)
		if tc.dry {
			continue
		}
		rows := e.sink.snapshot()
		g.Expect(rows).To(HaveLen(43), tc.name)
		for _, w := range rows {
			g.Expect(w.Values).NotTo(ContainElement("POISON"), w.Key)
		}
	}
}
