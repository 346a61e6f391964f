package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestReadAheadIsBounded: the next page is read while the current one is written, but
// never further: when ReadPage is called the n-th time, at least n-2 upserts have finished
// (one page being written, one being read).
func TestReadAheadIsBounded(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(60, 1)) // 6 pages of 10
	started := make(chan int, 100)
	e.src.onRead = func(call int) { started <- call }
	seen := 0
	// Each upsert waits until the next page's read has started, so reads get every chance to
	// run ahead while a page is being written.
	e.sink.before = func(_ context.Context, call int) {
		timeout := time.After(10 * time.Second)
		for seen < min(call+1, 6) {
			select {
			case seen = <-started:
			case <-timeout:
				return
			}
		}
	}
	cfg := e.config()
	cfg.PageSize = 10
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(seen).To(Equal(6), "every read overlapped a write")
	g.Expect(e.src.maxAhead).To(Equal(2))
	g.Expect(e.sink.snapshot()).To(HaveLen(60))
}

// TestMemoryIsBoundedByThePage: batches never exceed the page size and the audit record's
// lists stay bounded however many records pass.
func TestMemoryIsBoundedByThePage(t *testing.T) {
	g := NewWithT(t)
	n := 3000
	e := newEnv(genRecords(n, 7))
	fail := map[string]bool{}
	for i := 1; i <= n; i += 3 {
		fail[strconv.Itoa(i)] = true
	}
	e.mp.fail = fail
	cfg := e.config()
	cfg.PageSize = 64
	cfg.Source = plainSource{e.src}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	for _, b := range e.sink.batches {
		g.Expect(b).To(BeNumerically("<=", 64))
	}
	g.Expect(res.Record.Read).To(BeEquivalentTo(n))
	g.Expect(res.Record.Upserted).To(BeEquivalentTo(n - len(fail)))
	g.Expect(res.Record.SampleIDs).To(HaveLen(audit.MaxSampleIDs))
	g.Expect(res.Record.ErrorSummary).To(HaveLen(1))
	g.Expect(res.Record.ErrorSummary[0].SampleIDs).To(HaveLen(audit.MaxGroupSamples))
	g.Expect(res.Record.ErrorSummary[0].Count).To(BeEquivalentTo(len(fail)))
}
