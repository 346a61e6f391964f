package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestStaleness: a SyncJob is stale from the second scheduled time after its last
// success (or its creation), by the injected clock; a suspended one never is. A pure
// table test: no API server.
func TestStaleness(t *testing.T) {
	created := time.Date(2026, 7, 1, 10, 2, 0, 0, time.UTC)
	success := metav1.NewTime(time.Date(2026, 7, 1, 12, 1, 0, 0, time.UTC))
	syncJob := func(suspend bool, lastSuccess *metav1.Time) *syncv1.SyncJob {
		return &syncv1.SyncJob{
			ObjectMeta: metav1.ObjectMeta{Name: "s", CreationTimestamp: metav1.NewTime(created)},
			Spec:       syncv1.SyncJobSpec{Schedule: "0 * * * *", Suspend: ptr.To(suspend)},
			Status:     syncv1.SyncJobStatus{LastSuccessfulRunTime: lastSuccess},
		}
	}
	for _, tc := range []struct {
		name    string
		sj      *syncv1.SyncJob
		now     time.Time
		tracked bool
		staleAt time.Time
		stale   bool
	}{
		{name: "suspended is never stale", sj: syncJob(true, nil), now: created.Add(48 * time.Hour)},
		{name: "no success yet, fresh", sj: syncJob(false, nil), now: created.Add(time.Hour),
			tracked: true, staleAt: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)},
		{name: "no success yet, stale at the second missed run", sj: syncJob(false, nil), now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC),
			tracked: true, staleAt: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), stale: true},
		{name: "with a last success, fresh", sj: syncJob(false, &success), now: time.Date(2026, 7, 1, 13, 59, 0, 0, time.UTC),
			tracked: true, staleAt: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)},
		{name: "with a last success, stale", sj: syncJob(false, &success), now: time.Date(2026, 7, 1, 15, 0, 0, 0, time.UTC),
			tracked: true, staleAt: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC), stale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			clk := clocktesting.NewFakePassiveClock(tc.now)
			f := staleness(tc.sj, clk)
			g.Expect(f.tracked).To(Equal(tc.tracked))
			g.Expect(f.stale()).To(Equal(tc.stale))
			if tc.tracked {
				g.Expect(f.staleAt.Equal(tc.staleAt)).To(BeTrue(), "stale at %s, want %s", f.staleAt, tc.staleAt)
				g.Expect(f.remaining).To(Equal(tc.staleAt.Sub(tc.now)))
			}
		})
	}
}
