package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// countingMapper wraps the fake mapper and counts the records it mapped.
type countingMapper struct {
	inner  *fakeMapper
	mu     sync.Mutex
	mapped int
}

func (m *countingMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	w, err := m.inner.Map(r)
	m.mu.Lock()
	m.mapped++
	m.mu.Unlock()
	return w, err
}

func (m *countingMapper) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mapped
}

// TestNextPageIsMappedWhileAPageIsWritten: the page after the one being upserted is read
// and mapped during the upsert, and never a page further.
func TestNextPageIsMappedWhileAPageIsWritten(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(60, 1)) // 6 pages of 10
	mp := &countingMapper{inner: e.mp}
	var during []int // records mapped when each upsert began, once the next page was mapped
	e.sink.before = func(_ context.Context, call int) {
		// Run calls the sink on this test's goroutine.
		g.Eventually(mp.count).WithTimeout(10 * time.Second).WithPolling(time.Millisecond).
			Should(BeNumerically(">=", min(10*(call+1), 60)))
		during = append(during, mp.count())
	}
	cfg := e.config()
	cfg.PageSize = 10
	cfg.Mapper = mp
	_, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(during).To(Equal([]int{20, 30, 40, 50, 60, 60}), "each page's upsert overlapped the next page's mapping, and no further")
	g.Expect(e.src.maxAhead).To(Equal(2))
	g.Expect(e.sink.snapshot()).To(HaveLen(60))
}

// TestMappedAheadErrorsCountOnlyWhenProcessed: under Halt, a mapping error in the page read
// ahead of the halting page is not recorded; the run halts at the first failed record.
func TestMappedAheadErrorsCountOnlyWhenProcessed(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(30, 1)) // 3 pages of 10
	e.mp.fail = set("13", "25")
	cfg := e.config()
	cfg.PageSize = 10
	cfg.ErrorPolicy = Halt

	res, err := Run(context.Background(), cfg)
	g.Expect(err).To(HaveOccurred())
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(res.Record.Reason).To(Equal(runcontract.ReasonRecordError))
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
	g.Expect(res.Record.ErrorSummary).To(ConsistOf(audit.ErrorGroup{Reason: "not a decimal", Count: 1, SampleIDs: []string{"13"}}))
	g.Expect(res.Cursor).NotTo(BeNil())
	g.Expect(res.Cursor.ID).To(Equal("12"))
	g.Expect(e.sink.snapshot()).To(HaveLen(12), "page 2 stops before record 13; page 3 is never written")
}
