package engine

import (
	"context"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestPageSizePolicy: the adaptive page size doubles after a full page written quickly,
// halves after a slow one, stays between Min and Max, and never exceeds what the memory
// budget allows for rows as wide as the last page's (which may go below Min).
func TestPageSizePolicy(t *testing.T) {
	p := pageSizePolicy{Min: 2000, Max: 10000, Budget: 12 << 20, PerRecord: 1 << 10, DataCopies: 3, Quick: time.Second, Slow: 10 * time.Second}
	const narrow = 60 // bytes of column data a row: 1024 + 3×60 bytes a record, 10451 in 12 MiB
	for _, tc := range []struct {
		name string
		in   pageSample
		want int
	}{
		{"a full page written quickly doubles", pageSample{Limit: 2000, Rows: 2000, Bytes: 2000 * narrow, Took: 100 * time.Millisecond}, 4000},
		{"doubling stops at Max", pageSample{Limit: 8000, Rows: 8000, Bytes: 8000 * narrow, Took: 300 * time.Millisecond}, 10000},
		{"at Max it stays", pageSample{Limit: 10000, Rows: 10000, Bytes: 10000 * narrow, Took: 400 * time.Millisecond}, 10000},
		{"a short page (the source ended it, or the end) does not grow", pageSample{Limit: 4000, Rows: 1500, Bytes: 1500 * narrow, Took: 10 * time.Millisecond}, 4000},
		{"an empty page does not grow", pageSample{Limit: 4000, Took: time.Millisecond}, 4000},
		{"neither quick nor slow keeps the size", pageSample{Limit: 4000, Rows: 4000, Bytes: 4000 * narrow, Took: 3 * time.Second}, 4000},
		{"exactly Quick is not quick", pageSample{Limit: 4000, Rows: 4000, Bytes: 4000 * narrow, Took: time.Second}, 4000},
		{"a slow page halves", pageSample{Limit: 8000, Rows: 8000, Bytes: 8000 * narrow, Took: 12 * time.Second}, 4000},
		{"a slow short page halves too", pageSample{Limit: 8000, Rows: 10, Bytes: 10 * narrow, Took: 12 * time.Second}, 4000},
		{"halving stops at Min", pageSample{Limit: 2000, Rows: 2000, Bytes: 2000 * narrow, Took: time.Minute}, 2000},
		// 1024 + 3×300 = 1924 bytes a record: 12 MiB holds 6539 of them.
		{"medium rows: the budget caps the growth", pageSample{Limit: 4000, Rows: 4000, Bytes: 4000 * 300, Took: 50 * time.Millisecond}, 6539},
		// 1024 + 3×4096 = 13312 bytes a record: 12 MiB holds 945, below Min.
		{"wide rows: the budget goes below Min", pageSample{Limit: 2000, Rows: 2000, Bytes: 2000 * 4096, Took: 50 * time.Millisecond}, 945},
		{"wide rows: a slow page cannot raise it to Min", pageSample{Limit: 945, Rows: 945, Bytes: 945 * 4096, Took: time.Minute}, 945},
		{"a row larger than the budget: one at a time", pageSample{Limit: 2000, Rows: 1, Bytes: 64 << 20, Took: time.Millisecond}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(p.next(tc.in)).To(Equal(tc.want))
		})
	}
}

// TestPageBytes: the estimate of a page's column data counts strings, decimals, JSON and
// nested documents by their length, other scalars as 8 bytes, field names and ids; a page
// larger than the sample is extrapolated from records spread over it.
func TestPageBytes(t *testing.T) {
	g := NewWithT(t)
	rec := func(id string) connector.Record {
		return connector.Record{ID: id, Fields: map[string]any{
			"s":   strings.Repeat("x", 20),                            // 1 + 20
			"d":   connector.Decimal("12.50"),                         // 1 + 5
			"j":   connector.JSON(`{"a":1}`),                          // 1 + 7
			"n":   int64(7),                                           // 1 + 8
			"doc": map[string]any{"k": "vv", "l": []any{"abc", true}}, // 3 + (1+2) + (1+3+8)
			"nil": nil,                                                // 3 + 8
		}}
	}
	one := int64(2) + 21 + 6 + 8 + 9 + 18 + 11 // id "42" and the fields
	g.Expect(pageBytes([]connector.Record{rec("42")})).To(Equal(one))
	g.Expect(pageBytes(nil)).To(BeZero())
	page := make([]connector.Record, 1000)
	for i := range page {
		page[i] = rec("42")
	}
	g.Expect(pageBytes(page)).To(Equal(1000 * one))
}

// fieldsRecyclingSource is a postgres-like source that takes Fields maps back as soon as
// the engine mapped them (connector.FieldsRecycler) and poisons them, noting records
// handed back before they were mapped or twice.
type fieldsRecyclingSource struct {
	*fakeSource
	mapped func(id string) bool

	mu       sync.Mutex
	back     map[string]int
	unmapped []string
}

func (s *fieldsRecyclingSource) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	p, err := s.fakeSource.ReadPage(ctx, after, limit)
	for i := range p.Records {
		p.Records[i].Fields = maps.Clone(p.Records[i].Fields)
	}
	return p, err
}

func (s *fieldsRecyclingSource) RecycleFields(recs []connector.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		if !s.mapped(recs[i].ID) {
			s.unmapped = append(s.unmapped, recs[i].ID)
		}
		s.back[recs[i].ID]++
		for k := range recs[i].Fields {
			recs[i].Fields[k] = "POISON"
		}
		recs[i].Fields = nil
	}
}

// noteMapper is the fake mapper noting the ids it mapped.
type noteMapper struct {
	*fakeMapper
	mu   sync.Mutex
	seen map[string]bool
}

func (m *noteMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	m.mu.Lock()
	m.seen[r.ID] = true
	m.mu.Unlock()
	return m.fakeMapper.Map(r)
}

func (m *noteMapper) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[id]
}

// TestFieldsReleasedOnceMapped: a source that takes Fields maps back early gets each
// record's map once, only after the record was mapped, and the engine never reads it
// again (the maps are poisoned on return; the sink holds exactly the mapped source, mapping
// failures included as failures); a dry run hands nothing back.
func TestFieldsReleasedOnceMapped(t *testing.T) {
	for _, dry := range []bool{false, true} {
		for _, adaptive := range []bool{false, true} {
			g := NewWithT(t)
			e := newEnv(genRecords(47, 3))
			e.mp.fail = set("4", "20")
			mp := &noteMapper{fakeMapper: e.mp, seen: map[string]bool{}}
			src := &fieldsRecyclingSource{fakeSource: e.src, mapped: mp.has, back: map[string]int{}}
			cfg := e.config()
			cfg.Source, cfg.Mapper = src, mp
			cfg.PageSize = 4
			cfg.AdaptivePageSize = adaptive
			cfg.DryRun = dry
			_, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			if dry {
				g.Expect(src.back).To(BeEmpty(), "a dry run keeps its records")
				continue
			}
			g.Expect(src.back).To(HaveLen(47), "every record's fields come back")
			for id, n := range src.back {
				g.Expect(n).To(Equal(1), "record %s handed back %d times", id, n)
			}
			g.Expect(src.unmapped).To(BeEmpty(), "handed back before it was mapped")
			rows := e.sink.snapshot()
			g.Expect(rows).To(HaveLen(45))
			for _, w := range rows {
				g.Expect(w.Values).NotTo(ContainElement("POISON"), w.Key)
			}
		}
	}
}

// TestAdaptivePageSizeGrowsAndShrinks: with an adaptive size the main loop reads pages of
// the policy's sizes — growing from the start to Max while pages are written quickly,
// shrinking back to the start once they are slow — and the run still commits every page
// as before: the sink holds the mapped source, every saved cursor is covered by confirmed
// writes, and the run ends at the last record. A fixed size never changes.
func TestAdaptivePageSizeGrowsAndShrinks(t *testing.T) {
	for _, adaptive := range []bool{true, false} {
		g := NewWithT(t)
		e := newEnv(genRecords(300, 2))
		var violations []string
		e.store.check = e.invariantCheck(&violations)
		// Pages from the 8th upsert on take 20 s each.
		e.sink.before = func(_ context.Context, call int) {
			if call >= 8 {
				e.clock.advance(20 * time.Second)
			}
		}
		cfg := e.config()
		cfg.PageSize = 3
		cfg.AdaptivePageSize = adaptive
		cfg.pageSizes = &pageSizePolicy{Max: 24, Quick: 5 * time.Second, Slow: 10 * time.Second}
		res, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(e.sinkMismatch()).To(BeEmpty())
		g.Expect(violations).To(BeEmpty())
		g.Expect(res.Cursor).NotTo(BeNil())
		g.Expect(res.Cursor.ID).To(Equal("300"))

		limits := e.src.limits
		if !adaptive {
			for _, l := range limits {
				g.Expect(l).To(Equal(3))
			}
			continue
		}
		g.Expect(limits[0]).To(Equal(3), "the first page is read at the start size")
		for _, l := range limits {
			g.Expect(l).To(BeNumerically(">=", 3))
			g.Expect(l).To(BeNumerically("<=", 24))
		}
		top := 0
		for i, l := range limits {
			if l == 24 {
				top = i
				break
			}
		}
		g.Expect(top).To(BeNumerically(">", 0), "the size grew to Max: %v", limits)
		g.Expect(limits[len(limits)-1]).To(Equal(3), "slow pages shrink it back to the start: %v", limits)
	}
}

// TestInvariantUnderFaultsWithAdaptivePages is TestInvariantUnderFaults with the adaptive
// page size under random policies: page boundaries move from page to page (up and down,
// and below the start under a tight memory budget) while faults hit pages by number.
func TestInvariantUnderFaultsWithAdaptivePages(t *testing.T) { invariantUnderFaults(t, false, true) }

// randomPageSizes is a random adaptive policy for the invariant test: the fake clock steps
// 500 ms at every reading, so a page's time is a few steps; Quick and Slow around that make
// sizes go up and down, and a budget of a few records sometimes caps them below the start.
func randomPageSizes(rng *rand.Rand, start int) *pageSizePolicy {
	p := &pageSizePolicy{
		Max:   start + rng.IntN(12),
		Quick: time.Duration(1+rng.IntN(6)) * 500 * time.Millisecond,
	}
	p.Slow = p.Quick + time.Duration(rng.IntN(3))*500*time.Millisecond
	if rng.IntN(3) == 0 {
		p.Budget, p.PerRecord, p.DataCopies = int64(200+rng.IntN(400)), 50, 1
	}
	return p
}

// TestPageCheckSeesFieldsReleasedEarly: the mapping's page check (a from path no record of
// the page has) runs on the records as read even when the source takes their Fields back
// once mapped: a page that has the path is written, in the main scope and in a backfill
// (which checks only the records within its range), and a typo still fails the run before
// anything is written. The bench's first run failed with MappingPathMissing when the
// check ran after the Fields were handed back.
func TestPageCheckSeesFieldsReleasedEarly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from     string
		backfill bool
		wantErr  bool
	}{
		{"main scope", "customer_id", false, false},
		{"backfill", "customer_id", true, false},
		{"typo", "customer_idd", false, true},
	} {
		g := NewWithT(t)
		e := newEnv(apiRecords(40))
		src := &fieldsRecyclingSource{fakeSource: e.src, mapped: func(string) bool { return true }, back: map[string]int{}}
		cfg := e.config()
		cfg.Source = plainFieldsSource{src}
		cfg.Mapper = realMapping(t, tc.from, false)
		cfg.PageSize = 6
		cfg.AdaptivePageSize = true
		if tc.backfill {
			cfg.Range = &Range{From: t0.Add(5 * time.Second), To: t0.Add(30 * time.Second), Key: "tok"}
		}
		_, err := Run(context.Background(), cfg)
		if tc.wantErr {
			g.Expect(runErr(t, err).Reason).To(Equal(runcontract.ReasonMappingPathMissing), tc.name)
			g.Expect(e.sink.upserts()).To(BeZero(), tc.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		want := 40
		if tc.backfill {
			want = 25
		}
		g.Expect(e.sink.snapshot()).To(HaveLen(want), tc.name)
		for _, w := range e.sink.snapshot() {
			g.Expect(w.Values["customer"]).To(HavePrefix("cus_"), "%s: %s", tc.name, w.Key)
		}
		if !tc.backfill {
			g.Expect(src.back).To(HaveLen(40), "%s: the fields were handed back early", tc.name)
		}
	}
}

// plainFieldsSource is a fieldsRecyclingSource that cannot list its fields ahead (like an
// HTTP API), so that the mapping checks its paths page by page.
type plainFieldsSource struct{ s *fieldsRecyclingSource }

func (p plainFieldsSource) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	return p.s.ReadPage(ctx, after, limit)
}
func (p plainFieldsSource) CompareIDs(a, b string) int            { return p.s.CompareIDs(a, b) }
func (p plainFieldsSource) Close() error                          { return nil }
func (p plainFieldsSource) RecycleFields(recs []connector.Record) { p.s.RecycleFields(recs) }
