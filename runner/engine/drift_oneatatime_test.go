package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// countHoldingSource's CountWindow holds until the sample reads the sink or hold passes,
// and says whether the sample came while it counted.
type countHoldingSource struct {
	*fakeSource
	sampled  <-chan struct{}
	hold     time.Duration
	overlaid bool
}

func (s *countHoldingSource) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	select {
	case <-s.sampled:
		s.overlaid = true
	case <-time.After(s.hold):
	}
	return s.fakeSource.CountWindow(ctx, from, to)
}

// signallingSink closes sampled at its first ReadByKeys.
type signallingSink struct {
	readableSink
	once    sync.Once
	sampled chan struct{}
}

func (s *signallingSink) ReadByKeys(ctx context.Context, keys []string) ([]connector.SinkRecord, error) {
	s.once.Do(func() { close(s.sampled) })
	return s.readableSink.ReadByKeys(ctx, keys)
}

// TestDriftCheckCountsThenSamples: at the end of a run the drift check counts, then
// samples — never both at once, so that neither side needs a second connection for it (a
// PostgreSQL backend costs more to start than the sample's queries take) — and reports
// both. The source's count holds for a moment: a sample taken beside it would come during
// the hold.
func TestDriftCheckCountsThenSamples(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	sampled := make(chan struct{})
	sink := &signallingSink{readableSink: readableSink{e.sink}, sampled: sampled}
	src := &countHoldingSource{fakeSource: e.src, sampled: sampled, hold: 200 * time.Millisecond}
	cfg := e.config()
	cfg.Source, cfg.Sink = src, sink
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 5}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.overlaid).To(BeFalse(), "the sample was taken while the source was counted")
	g.Eventually(sampled).Should(BeClosed(), "the sample was taken")
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Uncounted).To(BeFalse())
	g.Expect(rc.SourceCount).To(BeEquivalentTo(20))
	g.Expect(rc.SinkCount).To(BeEquivalentTo(20))
	g.Expect(rc.Sampled).To(BeEquivalentTo(5))
	g.Expect(rc.Drift).To(BeFalse())
}
