package jobconfig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// TestRetryWaitBudgetIsPerRun: retry.maxTotalWait bounds the time the whole run waits
// before retries, source and sink together. Here the sink waits 0.3s (Retry-After) on the
// first page (its other write, in flight at the same time, waits on the same block or not
// at all: 0.3s either way) and then the source 2 x 0.3s on the third: 0.9s of a 1s budget;
// the source's next wait would pass it, so the run stops (reason HTTP503) with the cursor at
// the last confirmed page, although each side alone stays within its 1s.
func TestRetryWaitBudgetIsPerRun(t *testing.T) {
	g := NewWithT(t)
	at := func(i int) time.Time { return time.Date(2026, 6, 30, 12, 0, i, 0, time.UTC) }
	unavailable := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "0.3")
		http.Error(w, `{"message":"maintenance"}`, http.StatusServiceUnavailable)
	}
	var page3 atomic.Int32
	billing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := 1
		fmt.Sscan(r.URL.Query().Get("page"), &p)
		if p == 3 && page3.Add(1) <= 3 {
			unavailable(w)
			return
		}
		if p < 3 {
			w.Header().Set("Link", fmt.Sprintf(`<%s/invoices?page=%d>; rel="next"`, "http://"+r.Host, p+1))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data": [{"id": "%d", "updated_at": %q, "total": "1.00"}, {"id": "%d", "updated_at": %q, "total": "2.00"}]}`,
			2*p-1, at(2*p-1).Format(time.RFC3339), 2*p, at(2*p).Format(time.RFC3339))
	}))
	t.Cleanup(billing.Close)
	var writes atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if writes.Add(1) <= 1 {
			unavailable(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(crm.Close)

	retry := syncv1.HTTPRetry{MaxAttempts: 10, MaxBackoff: &metav1.Duration{Duration: time.Second},
		MaxTotalWait: &metav1.Duration{Duration: time.Second}}
	sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Name: "invoices"}, Spec: syncv1.SyncJobSpec{
		Source:  syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{URL: billing.URL + "/invoices", Retry: retry}},
		Sink:    syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Mode: "Upsert", URL: crm.URL + "/invoices/{key}", Retry: retry}},
		Key:     syncv1.KeySpec{Field: "billing_invoice_id"},
		Mapping: []syncv1.FieldMapping{{To: "total", From: "total", Type: syncv1.FieldDecimal}},
	}}
	sj.Default()
	sj.Spec.PageSize = 2
	sj.Spec.Checkpoint.Interval = &metav1.Duration{}

	cfg, closeAll, err := Build(context.Background(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(closeAll)
	dir := t.TempDir()
	cfg.Store = checkpoint.NewFileStore(dir, sj.Name)
	cfg.Lock = checkpoint.NewFileLock(dir)
	res, err := engine.Run(context.Background(), cfg)

	var runErr *engine.RunError
	g.Expect(errors.As(err, &runErr)).To(BeTrue(), "the run must stop once the run's retry budget is spent: %v", err)
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(res.Record.Reason).To(Equal("HTTP503"))
	g.Expect(res.Record.Message).To(ContainSubstring("maxTotalWait 1s"))
	g.Expect(writes.Load()).To(Equal(int32(5)), "pages 1 and 2 written (1 refused attempt, then 4 writes)")
	g.Expect(page3.Load()).To(Equal(int32(3)), "page 3 refused three times, the third wait not taken")
	end := cursor.Cursor{UpdatedAt: at(4), ID: "4"}
	g.Expect(res.Cursor).To(Equal(&end), "the cursor stops at the last confirmed page")
	st, err := cfg.Store.Load(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Cursor).To(Equal(&end))
}

// TestRetryWaitBudgetBound: the run's budget is the smaller retry.maxTotalWait of the HTTP
// sides (the only one when one side is PostgreSQL); no HTTP side, no budget.
func TestRetryWaitBudgetBound(t *testing.T) {
	wait := func(d time.Duration) syncv1.HTTPRetry {
		return syncv1.HTTPRetry{MaxTotalWait: &metav1.Duration{Duration: d}}
	}
	for _, tc := range []struct {
		name string
		spec syncv1.SyncJobSpec
		want time.Duration // 0: no budget
	}{
		{"both HTTP: the smaller", syncv1.SyncJobSpec{
			Source: syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{Retry: wait(10 * time.Minute)}},
			Sink:   syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Retry: wait(3 * time.Minute)}}}, 3 * time.Minute},
		{"HTTP source only", syncv1.SyncJobSpec{
			Source: syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{Retry: wait(7 * time.Minute)}},
			Sink:   syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{}}}, 7 * time.Minute},
		{"HTTP sink only", syncv1.SyncJobSpec{
			Source: syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{}},
			Sink:   syncv1.SinkSpec{HTTP: &syncv1.HTTPSink{Retry: wait(2 * time.Minute)}}}, 2 * time.Minute},
		{"no HTTP side", syncv1.SyncJobSpec{
			Source: syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{}},
			Sink:   syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			b, err := httpWaitBudget(&tc.spec)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.want == 0 {
				g.Expect(b).To(BeNil())
				return
			}
			g.Expect(b.Max()).To(Equal(tc.want))
		})
	}
}
