package metrics_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/metrics"
)

// TestCountsUnknownHasNoRecordSeries: a run the controller recorded for a runner that died
// (countsUnknown) exports its phase and is counted, but has no last_run_records series: a
// 0 there would claim the run read nothing.
func TestCountsUnknownHasNoRecordSeries(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(syncv1.AddToScheme(scheme)).To(Succeed())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	t0 := metav1.NewTime(now.Add(-time.Minute))
	sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "oom", UID: "u1"}}
	sj.Status.LastRun = &syncv1.RunRecord{RunID: "oom-m-1", Trigger: "Manual", Phase: syncv1.RunPhaseFailed, Reason: "OOMKilled",
		StartTime: &t0, CompletionTime: &t0, CountsUnknown: true}
	sj.Status.History = []syncv1.RunSummary{{RunID: "oom-m-1", Phase: syncv1.RunPhaseFailed}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sj).WithStatusSubresource(sj).Build()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.ReaderLister(c), clocktesting.NewFakePassiveClock(now), logr.Discard()))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	out := scrape(g, srv.URL)
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_last_run_phase{namespace="shop",phase="Failed",syncjob="oom"} 1` + "\n"))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_runs_total{namespace="shop",phase="Failed",syncjob="oom",trigger="Manual"} 1` + "\n"))
	g.Expect(out).NotTo(ContainSubstring(`checkpointed_syncjob_last_run_records{`))
}
