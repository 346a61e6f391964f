package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestInvariantUnderFaults runs many random fault schedules (a batch error at some upsert,
// record failures in the mapper and in the sink, a cancellation at some page, a read
// error, a checkpoint conflict, source updates between runs), reruns until a run succeeds,
// and checks that the sink then equals the mapped source and that no Save ever stored a
// cursor past a write the sink had not confirmed.
func TestInvariantUnderFaults(t *testing.T) { invariantUnderFaults(t, false, false) }

// TestInvariantUnderFaultsWithVersionScan is TestInvariantUnderFaults with the overlap's
// version scan (overlapscan.go): a sink that reads its stored versions and a source that
// scans versions, so that every rerun checks its safety gap by version.
func TestInvariantUnderFaultsWithVersionScan(t *testing.T) { invariantUnderFaults(t, true, false) }

func invariantUnderFaults(t *testing.T, versions, adaptive bool) {
	disturbed := 0 // first runs that did not succeed cleanly: the faults did fire
	for seed := range uint64(60) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			g := NewWithT(t)
			rng := rand.New(rand.NewPCG(seed, 42))
			n := 20 + rng.IntN(60)
			e := newEnv(genRecords(n, 1+rng.IntN(4)))
			var violations []string
			e.store.check = e.invariantCheck(&violations)

			cfg := e.config()
			var scans *versionScanSource
			var digests *versionDigestSource
			if versions {
				scans = &versionScanSource{fakeSource: e.src}
				cfg.Source, cfg.Sink = scans, &versionSink{fakeSink: e.sink}
				if seed%2 == 1 { // versions read by range
					cfg.Sink = &rangeSink{versionSink: cfg.Sink.(*versionSink)}
				}
				if seed%4 == 0 { // the gap confirmed by version digests when they agree (overlapdigest.go)
					digests = &versionDigestSource{versionScanSource: scans}
					cfg.Source = digests
					cfg.Sink = &versionDigestSink{versionSink: cfg.Sink.(*versionSink)}
					cfg.OverlapKey = &SourceKey{Field: "id", Prefix: "src:"}
				}
			}
			cfg.PageSize = 1 + rng.IntN(8)
			if versions { // scanned pages of positions as large as a page, or larger (overlapscan.go)
				cfg.versionScanPage = cfg.PageSize * (1 + int(seed%3))
			}
			cfg.SafetyGap = time.Duration(rng.IntN(4)) * time.Second
			cfg.CheckpointInterval = time.Duration(rng.IntN(3)) * time.Second
			e.clock.step = 500 * time.Millisecond
			if rng.IntN(2) == 0 {
				cfg.ErrorPolicy = Halt
			}
			if rng.IntN(3) == 0 {
				cfg.MaxErrors = rng.IntN(3)
			}
			if adaptive { // pagesize_test.go: page boundaries move from page to page
				cfg.AdaptivePageSize, cfg.pageSizes = true, randomPageSizes(rng, cfg.PageSize)
			}
			pages := n/cfg.PageSize + 1
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			faults := schedule(rng, n, pages, e, cancel)
			t.Logf("n=%d page=%d gap=%s policy=%s maxErrors=%d faults=%s", n, cfg.PageSize, cfg.SafetyGap, cfg.ErrorPolicy, cfg.MaxErrors, faults)

			res, err := Run(ctx, cfg)
			g.Expect(res.Locked).To(BeFalse())
			if res.Record.Phase != audit.PhaseSucceeded {
				disturbed++
			}
			if err != nil {
				g.Expect(runErr(t, err).Phase).To(BeElementOf(audit.PhaseFailed, audit.PhaseInterrupted))
			}
			clearFaults(e)

			var last audit.Phase
			for run := range 12 {
				if rng.IntN(3) == 0 { // the source moves on between runs
					updateRandom(rng, e)
				}
				cfg.RunID = "rerun-" + strconv.Itoa(run)
				res, err = Run(context.Background(), cfg)
				last = res.Record.Phase
				if err == nil && last == audit.PhaseSucceeded {
					break
				}
			}
			g.Expect(last).To(Equal(audit.PhaseSucceeded), "reruns reach a clean run: %v", err)
			// A last rerun after the source stops moving picks up what changed last.
			res, err = Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.sinkMismatch()).To(BeEmpty())
			g.Expect(violations).To(BeEmpty())
			g.Expect(e.store.get().FailedKeys).To(BeEmpty())
			g.Expect(e.lock.released).To(Equal(e.lock.acquired))
			if adaptive {
				t.Logf("page sizes read: %v", e.src.limits)
			}
			switch {
			case digests != nil && cfg.SafetyGap > 0:
				g.Expect(digests.calls).NotTo(BeEmpty(), "the reruns digested their gap's versions")
			case digests == nil && versions:
				g.Expect(scans.scans).NotTo(BeEmpty(), "the reruns scanned their gap by version")
			}
		})
	}
	NewWithT(t).Expect(disturbed).To(BeNumerically(">=", 30), "most schedules disturb the first run")
}

// schedule installs random one-shot faults for the first run and describes them.
func schedule(rng *rand.Rand, n, pages int, e *env, cancel context.CancelFunc) string {
	var desc []string
	if rng.IntN(2) == 0 {
		k := 1 + rng.IntN(pages)
		e.sink.batchErrAt = map[int]error{k: errors.New("connection reset")}
		desc = append(desc, fmt.Sprintf("batchErr@%d", k))
	}
	e.sink.failOnce = map[string]int{}
	e.mp.failOnce = map[string]int{}
	for range rng.IntN(4) {
		id := strconv.Itoa(1 + rng.IntN(n))
		if rng.IntN(2) == 0 {
			e.sink.failOnce[id] = 1
			desc = append(desc, "sinkFail:"+id)
		} else {
			e.mp.failOnce[id] = 1
			desc = append(desc, "mapFail:"+id)
		}
	}
	switch rng.IntN(4) {
	case 0: // cancelled after the sink confirmed page k
		k := 1 + rng.IntN(pages)
		e.sink.cancelAfter = map[int]context.CancelFunc{k: cancel}
		desc = append(desc, fmt.Sprintf("cancelAfterConfirm@%d", k))
	case 1: // cancelled before page k is written: the sink sees a cancelled context
		k := 1 + rng.IntN(pages)
		e.sink.before = func(_ context.Context, call int) {
			if call == k {
				cancel()
			}
		}
		desc = append(desc, fmt.Sprintf("cancelBefore@%d", k))
	case 2:
		k := 1 + rng.IntN(pages)
		e.src.readErrAt = map[int]error{k: fmt.Errorf("read: %w", connector.ErrRateLimited)}
		e.src.scanErrAt = map[int]error{k: fmt.Errorf("scan: %w", connector.ErrRateLimited)} // with the version scan
		desc = append(desc, fmt.Sprintf("readErr@%d", k))
	}
	if rng.IntN(4) == 0 {
		k := 1 + rng.IntN(pages)
		e.store.saveErrAt = map[int]error{k: fmt.Errorf("configmap: %w", checkpoint.ErrConflict)}
		desc = append(desc, fmt.Sprintf("conflict@save%d", k))
	}
	return fmt.Sprint(desc)
}

// clearFaults removes the faults keyed by call number, which only the first run may hit.
// Record failures (failOnce) fire once each, in whichever run reaches them first.
func clearFaults(e *env) {
	e.sink.mu.Lock()
	e.sink.batchErrAt, e.sink.before, e.sink.cancelAfter = nil, nil, nil
	e.sink.mu.Unlock()
	e.src.mu.Lock()
	e.src.readErrAt, e.src.scanErrAt = nil, nil
	e.src.mu.Unlock()
	e.store.mu.Lock()
	e.store.saveErrAt = nil
	e.store.mu.Unlock()
}

// updateRandom gives a random record a newer version, as a source update would.
func updateRandom(rng *rand.Rand, e *env) {
	e.src.mu.Lock()
	recs := append([]connector.Record(nil), e.src.recs...)
	e.src.mu.Unlock()
	i := rng.IntN(len(recs))
	latest := recs[len(recs)-1].UpdatedAt
	r := recs[i]
	r.UpdatedAt = latest.Add(time.Duration(1+rng.IntN(3)) * time.Second)
	r.Fields = map[string]any{"n": r.Fields["n"], "v": "v" + strconv.Itoa(rng.IntN(1000))}
	recs[i] = r
	e.src.set(recs)
}
