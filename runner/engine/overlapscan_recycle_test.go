package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// recyclingScanSource is a version-scanning source that recycles (connector.Recycler): it
// marks the positions it scans and notes, for each one handed back, whether its page was
// already checked — the sink confirmed the version the position has, or the record was
// fetched to be written — and poisons every map handed back.
type recyclingScanSource struct {
	*versionScanSource
	checked func(connector.Record) bool

	mu        sync.Mutex
	scannedN  int
	back      map[string]int // scanned ids handed back, by times
	unchecked []string       // scanned ids handed back before their page was checked
}

func (s *recyclingScanSource) ScanVersions(ctx context.Context, after, until cursor.Cursor, fields []string, limit int) (connector.Page, error) {
	p, err := s.versionScanSource.ScanVersions(ctx, after, until, fields, limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range p.Records {
		p.Records[i].Fields["scanned"] = true
		s.scannedN++
	}
	return p, err
}

func (s *recyclingScanSource) Recycle(recs []connector.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if r.Fields["scanned"] == true {
			s.back[r.ID]++
			if !s.checked(r) {
				s.unchecked = append(s.unchecked, r.ID)
			}
		}
		for k := range r.Fields {
			r.Fields[k] = "POISON"
		}
	}
}

// TestOverlapScanRecyclesCheckedPositions: the version scan hands each scanned page back to
// a recycling source once the page is checked (every position confirmed at the version the
// sink holds, or its record fetched and written), every position once, and nothing of it is
// used afterwards: the source poisons the maps handed back, and the sink still ends equal
// to the mapped source, the changed records written.
func TestOverlapScanRecyclesCheckedPositions(t *testing.T) {
	g := NewWithT(t)
	e, vs, ss, cfg := scanEnv(t)
	recs := genRecords(100, 1)
	recs[79].UpdatedAt = t0.Add(85*time.Second + 500*time.Millisecond) // record 80: a newer version inside the gap
	recs[79].Fields = map[string]any{"n": int64(80), "v": "v1"}
	e.src.set(recs)
	src := &recyclingScanSource{versionScanSource: ss, back: map[string]int{}}
	src.checked = func(r connector.Record) bool {
		e.sink.mu.Lock()
		at, ok := e.sink.confirmed["src:"+r.ID]
		e.sink.mu.Unlock()
		if ok && at.Equal(r.UpdatedAt) {
			return true
		}
		e.src.mu.Lock()
		defer e.src.mu.Unlock()
		for _, f := range e.src.fetches {
			for _, id := range f {
				if id == r.ID {
					return true
				}
			}
		}
		return false
	}
	cfg.Source = src

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(31)))
	g.Expect(res.Record.SameVersion).To(Equal(int64(30)))
	g.Expect(vs.upserted).To(ConsistOf("src:80"))
	g.Expect(src.scannedN).To(Equal(31))
	g.Expect(src.back).To(HaveLen(31), "every scanned position comes back")
	for id, n := range src.back {
		g.Expect(n).To(Equal(1), "position %s handed back once", id)
	}
	g.Expect(src.unchecked).To(BeEmpty(), "handed back before its page was checked")
	g.Expect(e.sinkMismatch()).To(BeEmpty())
	for _, w := range e.sink.snapshot() {
		g.Expect(w.Values).NotTo(ContainElement("POISON"), w.Key)
	}
}
