package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/metrics"
)

func scrape(g Gomega, url string) string {
	resp, err := http.Get(url)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	b, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return string(b)
}

func clientKey(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }

// TestCollectorServesStatusAsSeries scrapes the real metrics handler over SyncJobs whose
// status changes run after run, and checks the series, the runs counter and that a
// deleted SyncJob's series are gone.
func TestCollectorServesStatusAsSeries(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(syncv1.AddToScheme(scheme)).To(Succeed())
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(now)
	t0 := metav1.NewTime(now.Add(-10 * time.Minute))
	t1 := metav1.NewTime(now.Add(-10*time.Minute + 90*time.Second))
	fk := int64(3)
	orders := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders", UID: "u1"}}
	orders.Status = syncv1.SyncJobStatus{
		Conditions:            []metav1.Condition{{Type: syncv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded", LastTransitionTime: t0}},
		Cursor:                &syncv1.Cursor{UpdatedAt: now.Add(-5 * time.Minute).Format(time.RFC3339Nano), ID: "9"},
		LastSuccessfulRunTime: &t1,
		LastRun: &syncv1.RunRecord{RunID: "r2", Trigger: "Scheduled", Phase: syncv1.RunPhasePartiallySucceeded,
			StartTime: &t0, CompletionTime: &t1, Read: 10, Upserted: 6, Unchanged: 1, SameVersion: 4, Skipped: 1, Failed: 2, Deleted: 0,
			FailedKeys:     &fk,
			Reconciliation: &syncv1.Reconciliation{Sampled: 5, Mismatched: 2, Drift: true}},
		History: []syncv1.RunSummary{{RunID: "r2", Phase: syncv1.RunPhasePartiallySucceeded}, {RunID: "r1", Phase: syncv1.RunPhaseSucceeded}},
	}
	fresh := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "fresh", UID: "u2"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(orders, fresh).WithStatusSubresource(orders, fresh).Build()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.ReaderLister(c), clk, logr.Discard()))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	out := scrape(g, srv.URL)
	for _, line := range []string{
		`checkpointed_syncjob_ready{namespace="shop",syncjob="orders"} 1`,
		`checkpointed_syncjob_ready{namespace="shop",syncjob="fresh"} 0`,
		`checkpointed_syncjob_last_run_phase{namespace="shop",phase="PartiallySucceeded",syncjob="orders"} 1`,
		`checkpointed_syncjob_last_run_phase{namespace="shop",phase="Failed",syncjob="orders"} 0`,
		`checkpointed_syncjob_last_success_timestamp_seconds{namespace="shop",syncjob="orders"} 1.79603949e+09`,
		`checkpointed_syncjob_cursor_lag_seconds{namespace="shop",syncjob="orders"} 300`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="read",syncjob="orders"} 10`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="upserted",syncjob="orders"} 6`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="unchanged",syncjob="orders"} 1`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="skipped",syncjob="orders"} 1`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="failed",syncjob="orders"} 2`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="deleted",syncjob="orders"} 0`,
		`checkpointed_syncjob_last_run_records{namespace="shop",outcome="same_version",syncjob="orders"} 4`,
		`checkpointed_syncjob_last_run_duration_seconds{namespace="shop",syncjob="orders"} 90`,
		`checkpointed_syncjob_failed_keys{namespace="shop",syncjob="orders"} 3`,
		`checkpointed_syncjob_drift_mismatched_records{namespace="shop",syncjob="orders"} 2`,
		`checkpointed_syncjob_drift_detected{namespace="shop",syncjob="orders"} 1`,
		`checkpointed_syncjob_runs_total{namespace="shop",phase="PartiallySucceeded",syncjob="orders",trigger="Scheduled"} 1`,
		`checkpointed_syncjob_runs_total{namespace="shop",phase="Succeeded",syncjob="orders",trigger="Unknown"} 1`,
	} {
		g.Expect(out).To(ContainSubstring(line + "\n"))
	}
	// A SyncJob that never ran has only its Ready series.
	g.Expect(strings.Count(out, `syncjob="fresh"`)).To(Equal(1))

	// A second scrape of the same status counts no run twice.
	out = scrape(g, srv.URL)
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_runs_total{namespace="shop",phase="PartiallySucceeded",syncjob="orders",trigger="Scheduled"} 1` + "\n"))

	// The next run fails: the phase moves, the counter grows by one.
	g.Expect(c.Get(context.Background(), clientKey(orders), orders)).To(Succeed())
	orders.Status.LastRun = &syncv1.RunRecord{RunID: "r3", Trigger: "Manual", Phase: syncv1.RunPhaseFailed, StartTime: &t1, CompletionTime: &t1, Read: 4}
	orders.Status.History = append([]syncv1.RunSummary{{RunID: "r3", Phase: syncv1.RunPhaseFailed}}, orders.Status.History...)
	g.Expect(c.Status().Update(context.Background(), orders)).To(Succeed())
	out = scrape(g, srv.URL)
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_last_run_phase{namespace="shop",phase="Failed",syncjob="orders"} 1` + "\n"))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_last_run_phase{namespace="shop",phase="PartiallySucceeded",syncjob="orders"} 0` + "\n"))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_runs_total{namespace="shop",phase="Failed",syncjob="orders",trigger="Manual"} 1` + "\n"))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_runs_total{namespace="shop",phase="PartiallySucceeded",syncjob="orders",trigger="Scheduled"} 1` + "\n"))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_last_run_records{namespace="shop",outcome="read",syncjob="orders"} 4` + "\n"))
	// The failed run had no drift check and no failed-key count: those series are gone.
	g.Expect(out).NotTo(ContainSubstring(`checkpointed_syncjob_drift_detected{namespace="shop",syncjob="orders"}`))
	g.Expect(out).NotTo(ContainSubstring(`checkpointed_syncjob_failed_keys{namespace="shop",syncjob="orders"}`))

	// Deleted: every series of the SyncJob is gone.
	g.Expect(c.Delete(context.Background(), orders)).To(Succeed())
	out = scrape(g, srv.URL)
	g.Expect(out).NotTo(ContainSubstring(`syncjob="orders"`))
	g.Expect(out).To(ContainSubstring(`checkpointed_syncjob_ready{namespace="shop",syncjob="fresh"} 0`))
}
