package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/metrics"
)

// TestScrapeBeforeSyncIsQuiet: a scrape while the SyncJob informer has not synced yet (the
// manager's first seconds, when Prometheus may already scrape it four times a second in a
// benchmark) exports no SyncJob series and logs no error: it is the normal start, not a
// fault. Any other list error is still logged as an error.
func TestScrapeBeforeSyncIsQuiet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantError bool
	}{
		{"not synced yet", metrics.ErrNotSynced, false},
		{"not synced yet, wrapped", errors.Join(errors.New("SyncJob store"), metrics.ErrNotSynced), false},
		{"another list error", errors.New("the cache is gone"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sink := &errorSink{}
			log := logr.New(sink)
			list := func(context.Context) ([]*syncv1.SyncJob, error) { return nil, tc.err }
			reg := prometheus.NewRegistry()
			reg.MustRegister(metrics.NewCollector(list, clocktesting.NewFakePassiveClock(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)), log))
			families, err := reg.Gather()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(families).To(BeEmpty(), "no SyncJob series from a failed list")
			if tc.wantError {
				g.Expect(sink.errors).To(ConsistOf(ContainSubstring("the cache is gone")))
			} else {
				g.Expect(sink.errors).To(BeEmpty())
			}
		})
	}
}

// errorSink records the errors logged through it; Info is discarded.
type errorSink struct{ errors []string }

func (s *errorSink) Init(logr.RuntimeInfo)          {}
func (s *errorSink) Enabled(int) bool               { return true }
func (s *errorSink) Info(int, string, ...any)       {}
func (s *errorSink) WithValues(...any) logr.LogSink { return s }
func (s *errorSink) WithName(string) logr.LogSink   { return s }
func (s *errorSink) Error(err error, msg string, _ ...any) {
	s.errors = append(s.errors, msg+": "+err.Error())
}
