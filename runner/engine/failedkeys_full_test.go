package engine

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestFailedKeysFullStopsTheCursor: with more bad records than the failed keys hold, the
// run stops before the first record it has no room for (FailedKeysFull, a message saying
// what to do), keeps every key, and later runs never report Succeeded until the records
// are fixed; then every row arrives.
func TestFailedKeysFullStopsTheCursor(t *testing.T) {
	g := NewWithT(t)
	n := runcontract.MaxFailedKeys + 50
	recs := genRecords(n, 1)
	e := newEnv(recs)
	fail := map[string]bool{}
	for i := 1; i <= n; i++ {
		fail[strconv.Itoa(i)] = true
	}
	e.mp.fail = fail
	cfg := e.config()
	cfg.PageSize = 200
	cfg.Source = plainSource{e.src}

	for run := 1; run <= 2; run++ {
		res, err := Run(context.Background(), cfg)
		re := runErr(t, err)
		g.Expect(re.Reason).To(Equal(runcontract.ReasonFailedKeysFull), "run %d", run)
		g.Expect(re.Message).To(ContainSubstring(fmt.Sprintf("record %d failed", runcontract.MaxFailedKeys+1)))
		g.Expect(re.Message).To(ContainSubstring(fmt.Sprintf("(%d)", runcontract.MaxFailedKeys)))
		g.Expect(re.Message).To(ContainSubstring("fix the failing records in the source or the mapping"))
		g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
		st := e.store.get()
		g.Expect(st.FailedKeys).To(HaveLen(runcontract.MaxFailedKeys), "no key dropped (run %d)", run)
		g.Expect(st.FailedKeys[0]).To(Equal("1"))
		g.Expect(st.FailedKeys[len(st.FailedKeys)-1]).To(Equal(strconv.Itoa(runcontract.MaxFailedKeys)))
		g.Expect(*st.Cursor).To(Equal(recs[runcontract.MaxFailedKeys-1].Cursor()), "the cursor stops just before the record without room (run %d)", run)
		g.Expect(e.sink.upserts()).To(BeZero())
	}

	e.mp.fail = nil // the records are fixed
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseSucceeded))
	g.Expect(e.store.get().FailedKeys).To(BeEmpty())
	g.Expect(e.sinkMismatch()).To(BeEmpty(), "every row arrived")
}

// TestFailedKeysNeverLost: with a small bound and failures in the mapping and the sink,
// every saved cursor covers only confirmed records or listed failures, the list never
// exceeds its bound, and once the records are fixed the sink holds the whole source: for a
// source that fetches by id, one that cannot (re-read), and an unsorted one.
func TestFailedKeysNeverLost(t *testing.T) {
	sources := map[string]func(*fakeSource) connector.Source{
		"fetcher":     func(s *fakeSource) connector.Source { return s },
		"no fetcher":  func(s *fakeSource) connector.Source { return plainSource{s} },
		"unfetchable": func(s *fakeSource) connector.Source { return unfetchableSource{s} },
		"unsorted": func(s *fakeSource) connector.Source {
			s.unsorted = true // serves one listing in its own page order
			return unsortedSource{s}
		},
	}
	for name, source := range sources {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(40, 2))
			var violations []string
			e.store.check = e.invariantCheck(&violations)
			e.mp.fail = set("2", "3", "7", "8", "11", "30")
			e.sink.failAlways = set("13", "14", "31")
			cfg := e.config()
			cfg.Source = source(e.src)
			cfg.maxFailedKeys = 3

			// Each run is a new process: an unsorted source starts a new listing.
			run := func() (Result, error) {
				e.src.mu.Lock()
				e.src.pos = 0
				e.src.mu.Unlock()
				return Run(context.Background(), cfg)
			}
			sawFull := false
			for i := range 4 {
				_, err := run()
				if err != nil {
					re := runErr(t, err)
					g.Expect(re.Reason).To(Equal(runcontract.ReasonFailedKeysFull), "run %d: %v", i, err)
					sawFull = true
				}
				g.Expect(len(e.store.get().FailedKeys)).To(BeNumerically("<=", 3))
				e.clock.advance(time.Minute)
			}
			g.Expect(sawFull).To(BeTrue())

			e.mp.fail, e.sink.failAlways = nil, nil
			var last audit.Record
			for range 3 {
				res, err := run()
				g.Expect(err).NotTo(HaveOccurred())
				last = res.Record
			}
			g.Expect(last.Phase).To(Equal(audit.PhaseSucceeded))
			g.Expect(e.store.get().FailedKeys).To(BeEmpty())
			g.Expect(e.sinkMismatch()).To(BeEmpty(), "no row lost")
			g.Expect(violations).To(BeEmpty())
			g.Expect(*e.store.get().Cursor).To(Equal(cursor.Cursor{UpdatedAt: t0.Add(19 * time.Second), ID: "40"}))
		})
	}
}

func TestFailedKeysList(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	cases := []struct {
		start []string
		add   []string
		rm    []string
		want  []string
	}{
		{nil, []string{"a", "b"}, nil, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"a"}, nil, []string{"b", "a"}},                // a failed again: newest
		{[]string{"a", "b", "c"}, []string{"d"}, nil, []string{"a", "b", "c", "d"}}, // never dropped
		{[]string{"a", "a", "b"}, nil, nil, []string{"a", "b"}},                     // loaded duplicates collapse
		{[]string{"a", "b", "c"}, nil, []string{"b", "x"}, []string{"a", "c"}},
		{[]string{"a"}, nil, []string{"a"}, nil},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := NewWithT(t)
			f := newFailedKeys(tc.start, nil)
			for j, id := range tc.add {
				f.add(id, at(j+1))
			}
			for _, id := range tc.rm {
				f.remove(id)
			}
			g.Expect(f.list()).To(Equal(tc.want))
			g.Expect(f.at).To(HaveLen(len(tc.want)))
		})
	}

	// Positions: kept through a load, a known one survives an add without one.
	g := NewWithT(t)
	f := newFailedKeys([]string{"a", "b", "c"}, map[string]time.Time{"a": at(5), "b": at(2), "gone": at(1)})
	g.Expect(f.positions()).To(Equal(map[string]time.Time{"a": at(5), "b": at(2)}))
	f.add("b", time.Time{})
	oldest, known, unknown := f.oldest()
	g.Expect(oldest).To(Equal(at(2)))
	g.Expect(known).To(Equal([]string{"a", "b"}))
	g.Expect(unknown).To(Equal([]string{"c"}))
}
