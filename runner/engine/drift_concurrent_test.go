package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// sampleWaitingSource's CountWindow waits (at most 10 s) until the sink was asked for the
// sample's records.
type sampleWaitingSource struct {
	*fakeSource
	sampled <-chan struct{}
	waited  bool
}

func (s *sampleWaitingSource) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	select {
	case <-s.sampled:
	case <-time.After(10 * time.Second):
		s.waited = true
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

// TestDriftCountsRunAlongsideTheSample: at the end of a run, the drift check's counts and
// its sample are taken at once (the count is still running when the sample reads the
// sink), and both are reported.
func TestDriftCountsRunAlongsideTheSample(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(20, 1))
	sampled := make(chan struct{})
	sink := &signallingSink{readableSink: readableSink{e.sink}, sampled: sampled}
	src := &sampleWaitingSource{fakeSource: e.src, sampled: sampled}
	cfg := e.config()
	cfg.Source, cfg.Sink = src, sink
	cfg.Reconcile = Reconcile{Window: time.Hour, Sample: 5}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(src.waited).To(BeFalse(), "the sample was taken while the source was counted")
	rc := res.Record.Reconciliation
	g.Expect(rc).NotTo(BeNil())
	g.Expect(rc.Uncounted).To(BeFalse())
	g.Expect(rc.SourceCount).To(BeEquivalentTo(20))
	g.Expect(rc.SinkCount).To(BeEquivalentTo(20))
	g.Expect(rc.Sampled).To(BeEquivalentTo(5))
	g.Expect(rc.Drift).To(BeFalse())
}
