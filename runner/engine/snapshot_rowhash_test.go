package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// keyMapper is the fake mapper with KeyMapper, counting full mappings by record id; a
// suffix, when set, is appended to every mapped value "v" (a changed mapping).
type keyMapper struct {
	*fakeMapper
	mu     sync.Mutex
	mapped map[string]int
	suffix string
}

func (m *keyMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	m.mu.Lock()
	m.mapped[r.ID]++
	suffix := m.suffix
	m.mu.Unlock()
	w, err := m.fakeMapper.Map(r)
	if err == nil && suffix != "" {
		if v, ok := w.Values["v"].(string); ok {
			w.Values["v"] = v + suffix
		}
	}
	return w, err
}

func (m *keyMapper) KeyFields() ([]string, bool) { return nil, true }

func (m *keyMapper) KeyOf(r connector.Record) (string, bool, error) { return "src:" + r.ID, false, nil }

// rowHashEnv is a snapshotEnv whose records are hashed as read, under fingerprint "fp1".
func rowHashEnv(n int) (*env, *keyMapper, Config) {
	e, _, _, cfg := snapshotEnv(n)
	km := &keyMapper{fakeMapper: e.mp, mapped: map[string]int{}}
	cfg.Mapper, cfg.SnapshotRowHash = km, "fp1"
	return e, km, cfg
}

// TestSnapshotRowHashMapsOnlyChangedRecords: with hashes of source records, a run over an
// unchanged source maps no record and writes nothing; after changes it maps and writes
// exactly the changed and new records; every row stores the hash of its source record.
func TestSnapshotRowHashMapsOnlyChangedRecords(t *testing.T) {
	g := NewWithT(t)
	e, km, cfg := rowHashEnv(23)
	// One page: a page with more than 1 in 20 records changed makes the next page of the
	// run mapped whole (the output compares, as for a load), which is not what this checks.
	cfg.PageSize = 50

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(23)))

	km.mapped = map[string]int{}
	e.sink.writes = map[string]int{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(23)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(23)))
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(e.sink.writes).To(BeEmpty(), "nothing unchanged reaches the sink")
	g.Expect(km.mapped).To(BeEmpty(), "no unchanged record is mapped")

	recs := genRecords(24, 1)
	recs[4].Fields["v"] = "v1"
	recs[17].Fields["n"] = "18" // typed: "18" is not 18
	recs[20].Fields["v"] = nil
	e.src.set(recs)
	km.mapped = map[string]int{}
	e.sink.writes = map[string]int{}
	sink := cfg.Sink.(*hashSink)
	sink.lookups = nil
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(4)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(20)))
	want := map[string]int{"src:5": 1, "src:18": 1, "src:21": 1, "src:24": 1}
	g.Expect(e.sink.writes).To(Equal(want))
	g.Expect(sink.lookups).To(Equal([]int{24}), "one lookup for the page, none by the output")
	g.Expect(km.mapped).To(Equal(map[string]int{"5": 1, "18": 1, "21": 1, "24": 1}), "only the changed records are mapped")
	g.Expect(snapshotMismatch(e)).To(BeEmpty())
	rows := e.sink.snapshot()
	for _, r := range recs {
		g.Expect(rows["src:"+r.ID].Hash).To(Equal(RowHash("fp1", r)), "row %s stores the hash of its source record", r.ID)
	}
}

// TestSnapshotRowHashFingerprintChangeRewritesEverything: a changed mapping comes with a
// changed fingerprint, and every row is written again with the new mapping's values —
// also when the source did not change at all; the run after that writes nothing.
func TestSnapshotRowHashFingerprintChangeRewritesEverything(t *testing.T) {
	g := NewWithT(t)
	e, km, cfg := rowHashEnv(23)
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())

	km.suffix, cfg.SnapshotRowHash = "-new", "fp2"
	e.sink.writes = map[string]int{}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(23)), "a mapping change rewrites every row")
	g.Expect(res.Record.Unchanged).To(BeZero())
	for k, w := range e.sink.snapshot() {
		g.Expect(w.Values["v"]).To(Equal("v0-new"), "row %s holds the new mapping's value", k)
	}

	e.sink.writes = map[string]int{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(e.sink.writes).To(BeEmpty())

	// A fingerprint change alone (the runner's conversion rules, a source setting) also
	// rewrites every row: the stored hashes no longer vouch for the written values.
	cfg.SnapshotRowHash = "fp3"
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(23)))
}

// TestSnapshotRowHashSwitchFromMappedHashes: rows stored with hashes of mapped records
// (before hashes of source records were turned on) are written once more, then held.
func TestSnapshotRowHashSwitchFromMappedHashes(t *testing.T) {
	g := NewWithT(t)
	e, _, cfg := rowHashEnv(12)
	mapped := cfg
	mapped.Mapper, mapped.SnapshotRowHash = e.mp, ""
	_, err := Run(context.Background(), mapped)
	g.Expect(err).NotTo(HaveOccurred())

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(12)))
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(res.Record.Unchanged).To(Equal(int64(12)))
}

// TestSnapshotRowHashRecordErrors: a record that does not map is a record error in every
// run (it never has a stored hash to match), and is retried from the failed keys.
func TestSnapshotRowHashRecordErrors(t *testing.T) {
	g := NewWithT(t)
	e, km, cfg := rowHashEnv(12)
	cfg.PageSize = 50 // one page (see TestSnapshotRowHashMapsOnlyChangedRecords)
	e.mp.fail = map[string]bool{"7": true}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(11)))
	g.Expect(res.Record.Failed).To(Equal(int64(1)))
	g.Expect(e.store.get().FailedKeys).To(ConsistOf("7"))

	km.mapped = map[string]int{}
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Failed).To(BeNumerically(">=", 1), "the failing record fails again")
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(km.mapped).To(HaveKey("7"))
	g.Expect(km.mapped).To(HaveLen(1), "only the failing record is mapped")

	e.mp.mu.Lock()
	e.mp.fail = nil
	e.mp.mu.Unlock()
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Failed).To(BeZero())
	g.Expect(e.store.get().FailedKeys).To(BeEmpty())
	row := e.sink.snapshot()["src:7"]
	g.Expect(row.Values).To(Equal(map[string]any{"n": int64(7), "v": "v0"}), "the retried record was written")
	g.Expect(snapshotMismatch(e)).To(BeEmpty())
	g.Expect(row.Hash).To(Equal(RowHash("fp1", genRecords(12, 1)[6])))
}

// TestSnapshotRowHashNeedsKeyMapper: hashes of source records need a mapper that computes
// keys alone.
func TestSnapshotRowHashNeedsKeyMapper(t *testing.T) {
	_, _, _, cfg := snapshotEnv(3)
	cfg.SnapshotRowHash = "fp1"
	cfg.Mapper = mapOnly{cfg.Mapper}
	_, err := Run(context.Background(), cfg)
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("KeyMapper")))
}

// mapOnly is a Mapper that cannot compute keys alone.
type mapOnly struct{ Mapper }

// TestRowHash: what changes a source record's hash and what does not.
func TestRowHash(t *testing.T) {
	at := time.Date(2026, 6, 30, 12, 0, 0, 123456789, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	base := func() connector.Record {
		return connector.Record{ID: "1", UpdatedAt: at, Fields: map[string]any{
			"n": int64(1), "s": "a", "d": connector.Decimal("12.30"), "t": at, "null": nil,
			"j": map[string]any{"a": json.Number("1"), "b": []any{"x", true}},
		}}
	}
	h0 := RowHash("fp", base())
	for _, tc := range []struct {
		name   string
		fp     string
		change func(*connector.Record)
		same   bool
	}{
		{"nothing changed", "fp", func(*connector.Record) {}, true},
		{"updatedAt is not content", "fp", func(r *connector.Record) { r.UpdatedAt = at.Add(time.Hour) }, true},
		{"a time in another location, same instant", "fp", func(r *connector.Record) { r.Fields["t"] = at.In(paris) }, true},
		{"the fingerprint", "fp2", func(*connector.Record) {}, false},
		{"the id", "fp", func(r *connector.Record) { r.ID = "2" }, false},
		{"an int value", "fp", func(r *connector.Record) { r.Fields["n"] = int64(2) }, false},
		{"int 1 vs string 1", "fp", func(r *connector.Record) { r.Fields["n"] = "1" }, false},
		{"decimal scale", "fp", func(r *connector.Record) { r.Fields["d"] = connector.Decimal("12.3") }, false},
		{"null vs missing field", "fp", func(r *connector.Record) { delete(r.Fields, "null") }, false},
		{"a nested JSON number", "fp", func(r *connector.Record) { r.Fields["j"].(map[string]any)["a"] = json.Number("1.0") }, false},
		{"a JSON number vs its string", "fp", func(r *connector.Record) { r.Fields["j"].(map[string]any)["a"] = "1" }, false},
		{"a nested list element", "fp", func(r *connector.Record) { r.Fields["j"].(map[string]any)["b"] = []any{"x", false} }, false},
		{"a list element moved out", "fp", func(r *connector.Record) { r.Fields["j"].(map[string]any)["b"] = []any{"x"} }, false},
		{"a value across a field boundary", "fp", func(r *connector.Record) { r.Fields["s"] = "a" + strings.Repeat("x", 3) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.change(&r)
			if tc.same {
				NewWithT(t).Expect(RowHash(tc.fp, r)).To(Equal(h0))
			} else {
				NewWithT(t).Expect(RowHash(tc.fp, r)).NotTo(Equal(h0))
			}
		})
	}
	t.Run("records with other fields in between", func(t *testing.T) {
		g := NewWithT(t)
		other := connector.Record{ID: "1", Fields: map[string]any{"n": int64(1), "s": "a", "d": connector.Decimal("12.30"), "t": at, "x": nil,
			"j": map[string]any{}}} // as many fields, one name differs
		ho := RowHash("fp", other)
		for range 5 {
			g.Expect(RowHash("fp", base())).To(Equal(h0))
			g.Expect(RowHash("fp", other)).To(Equal(ho))
			g.Expect(RowHash("fp", connector.Record{ID: "1"})).NotTo(Equal(h0))
		}
		g.Expect(ho).NotTo(Equal(h0))
	})
	t.Run("stable across map orders", func(t *testing.T) {
		for range 20 {
			NewWithT(t).Expect(RowHash("fp", base())).To(Equal(h0))
		}
	})
}

// failingHashes is a hashSink whose lookups fail.
type failingHashes struct{ *hashSink }

func (failingHashes) StoredHashes(context.Context, []string) (map[string]string, error) {
	return nil, errors.New("connection reset")
}

// TestSnapshotRowHashLookupFailure: a failed lookup of the stored hashes is the sink's
// error (reason SinkError), and nothing is written without its hashes compared.
func TestSnapshotRowHashLookupFailure(t *testing.T) {
	g := NewWithT(t)
	e, _, cfg := rowHashEnv(12)
	cfg.Sink = failingHashes{&hashSink{fakeSink: e.sink}}
	_, err := Run(context.Background(), cfg)
	var re *RunError
	g.Expect(errors.As(err, &re)).To(BeTrue(), "%v", err)
	g.Expect(re.Reason).To(Equal(runcontract.ReasonSinkError))
	g.Expect(re.Message).To(ContainSubstring("stored hashes"))
	g.Expect(e.sink.writes).To(BeEmpty())
}

// TestSnapshotRowHashUnderFaults runs random fault schedules (a batch error after a partial
// write, record failures in the mapper and in the sink, a cancellation after some page, a
// changed mapping fingerprint, source updates between runs) with hashes of source records,
// reruns until a run succeeds, and checks that the sink then holds exactly the mapped
// source, each row with the hash of its source record, and no failed keys are left.
func TestSnapshotRowHashUnderFaults(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(seed, 7))
			n := 10 + rng.IntN(40)
			e, _, cfg := rowHashEnv(n)
			cfg.PageSize = 1 + rng.IntN(8)
			pages := n/cfg.PageSize + 1
			if rng.IntN(2) == 0 { // an earlier load under another fingerprint
				old := cfg
				old.SnapshotRowHash = "fp0"
				_, err := Run(context.Background(), old)
				g.Expect(err).NotTo(HaveOccurred())
			}
			runUnderFaults(g, rng, e, cfg, n, pages)
			// A complete scan after the source stops moving picks up what changed last (a
			// scan cut short resumed after its position); the one after it writes nothing.
			_, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Upserted).To(BeZero(), "nothing left to write")
			g.Expect(e.store.get().FailedKeys).To(BeEmpty())
			rows := e.sink.snapshot()
			e.src.mu.Lock()
			recs := slices.Clone(e.src.recs)
			e.src.mu.Unlock()
			g.Expect(rows).To(HaveLen(len(recs)))
			for _, r := range recs {
				w := rows["src:"+r.ID]
				g.Expect(w.Values).To(Equal(r.Fields), "row %s holds its source record", r.ID)
				g.Expect(w.Hash).To(Equal(RowHash("fp1", r)), "row %s holds the hash of its source record", r.ID)
			}
		})
	}
}

// runUnderFaults runs cfg once under a random fault schedule (a batch error after a
// partial write, record failures in the mapper and in the sink, a cancellation after some
// page), then reruns it, with random source updates between runs, until a run succeeds.
func runUnderFaults(g Gomega, rng *rand.Rand, e *env, cfg Config, n, pages int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if rng.IntN(2) == 0 {
		e.sink.batchErrAt = map[int]error{1 + rng.IntN(pages): errors.New("connection reset")}
	}
	e.sink.failOnce, e.mp.failOnce = map[string]int{}, map[string]int{}
	for range rng.IntN(4) {
		id := strconv.Itoa(1 + rng.IntN(n))
		if rng.IntN(2) == 0 {
			e.sink.failOnce[id] = 1
		} else {
			e.mp.failOnce[id] = 1
		}
	}
	if rng.IntN(2) == 0 {
		e.sink.cancelAfter = map[int]context.CancelFunc{1 + rng.IntN(pages): cancel}
	}
	_, _ = Run(ctx, cfg)
	e.sink.mu.Lock()
	e.sink.batchErrAt, e.sink.cancelAfter = nil, nil
	e.sink.mu.Unlock()

	var last audit.Phase
	var err error
	for run := range 12 {
		if rng.IntN(3) == 0 {
			e.src.mu.Lock()
			recs := slices.Clone(e.src.recs)
			e.src.mu.Unlock()
			i := rng.IntN(len(recs))
			recs[i].Fields = map[string]any{"n": recs[i].Fields["n"], "v": "v" + strconv.Itoa(rng.IntN(1000))}
			e.src.set(recs)
		}
		cfg.RunID = "rerun-" + strconv.Itoa(run)
		var res Result
		res, err = Run(context.Background(), cfg)
		last = res.Record.Phase
		if err == nil && last == audit.PhaseSucceeded {
			break
		}
	}
	g.Expect(last).To(Equal(audit.PhaseSucceeded), "reruns reach a clean run: %v", err)
}
