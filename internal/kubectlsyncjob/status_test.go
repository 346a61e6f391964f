package kubectlsyncjob

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

var statusNow = time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)

func at(s string) *metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: t}
}

// TestStatusText: the three answers, in words, for each state, and the suggested command.
func TestStatusText(t *testing.T) {
	succeeded := func(sj *syncv1.SyncJob) {
		sj.Status.LastRun = &syncv1.RunRecord{RunID: "invoices-29100000-abcde", Trigger: "Scheduled", Phase: syncv1.RunPhaseSucceeded,
			StartTime: at("2026-07-01T02:00:00Z"), CompletionTime: at("2026-07-01T02:00:42Z"), Read: 500, Upserted: 498, Unchanged: 2}
		sj.Status.LastSuccessfulRunTime = at("2026-07-01T02:00:42Z")
		sj.Status.Cursor = &syncv1.Cursor{UpdatedAt: "2026-07-01T01:59:00.123Z", ID: "inv_500"}
	}
	for _, tc := range []struct {
		name  string
		setUp func(sj *syncv1.SyncJob, f *Facts)
		want  []string
	}{
		{"no run yet", func(sj *syncv1.SyncJob, f *Facts) {}, []string{
			"SyncJob billing/invoices — Ready unknown (the controller has not reported yet)",
			"  no run yet",
			"  running now: nothing",
			"  no cursor stored: the next run starts at the beginning",
			"  next scheduled run 2026-07-02T02:00:00Z (in 17h, schedule \"0 2 * * *\")",
			"  suggested: no run yet; start one now instead of waiting for the schedule",
			"    kubectl syncjob run invoices --wait -n billing",
		}},
		{"succeeded", func(sj *syncv1.SyncJob, f *Facts) { succeeded(sj) }, []string{
			"  last run invoices-29100000-abcde: Succeeded, trigger Scheduled, started 2026-07-01T02:00:00Z (7h ago), took 42s",
			"  last success 2026-07-01T02:00:42Z (6h59m ago)",
			"  cursor 2026-07-01T01:59:00.123Z / id inv_500: synced every record updated up to 2026-07-01T01:59:00Z, 7h1m behind now",
			"  last run: read 500, upserted 498, unchanged 2, skipped 0, failed 0, deleted 0",
			"  suggested: nothing to do: the last run succeeded",
		}},
		{"failed", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun.Phase, sj.Status.LastRun.Reason, sj.Status.LastRun.Message = syncv1.RunPhaseFailed, "SinkError", "upsert page: connection refused"
			sj.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "False", Reason: "RunFailed", Message: "run invoices-29100000-abcde Failed"}}
		}, []string{
			"SyncJob billing/invoices — Ready False (RunFailed: run invoices-29100000-abcde Failed)",
			"    why: SinkError upsert page: connection refused",
			"  suggested: the last run failed (SinkError: upsert page: connection refused); read its log, fix the cause, then run again (kubectl syncjob run invoices --wait -n billing)",
			"    kubectl syncjob logs invoices -n billing",
		}},
		{"partially succeeded", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun.Phase, sj.Status.LastRun.Failed = syncv1.RunPhasePartiallySucceeded, 2
			sj.Status.LastRun.ErrorSummary = []syncv1.ErrorGroup{{Reason: "field total: not a number", Count: 2, SampleIDs: []string{"inv_7", "inv_9"}}}
		}, []string{
			"    2 × field total: not a number (ids inv_7, inv_9)",
			"  suggested: 2 records failed (field total: not a number); they are retried first on the next run once fixed; ask why one failed",
			"    kubectl syncjob explain invoices inv_7 -n billing",
		}},
		{"runner died before reporting", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun = &syncv1.RunRecord{RunID: "invoices-m-1a2b3c4d", Trigger: "Manual", Phase: syncv1.RunPhaseFailed, Reason: "OOMKilled",
				Message:   "the runner Pod invoices-m-1a2b3c4d-x7k2p was killed for exceeding its memory limit of 256Mi",
				StartTime: at("2026-07-01T08:00:00Z"), CompletionTime: at("2026-07-01T08:01:00Z"), CountsUnknown: true}
		}, []string{
			"  last run: counts unknown (the runner stopped before reporting them)",
		}},
		{"drift with mismatches", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun.Reconciliation = &syncv1.Reconciliation{SourceCount: 10, SinkCount: 10, Sampled: 5, Mismatched: 1, Drift: true,
				Mismatches: []syncv1.Mismatch{{Key: "billing:inv_3", Fields: []string{"total"}}}}
		}, []string{
			"  drift: source 10, sink 10, 1 of 5 sampled records differ",
			"    kubectl syncjob explain invoices billing:inv_3 -n billing",
		}},
		{"drift in counts", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun.Reconciliation = &syncv1.Reconciliation{SourceCount: 10, SinkCount: 9, Drift: true,
				WindowStart: "2026-06-30T00:00:00Z", WindowEnd: "2026-07-01T00:00:00Z"}
		}, []string{
			"  suggested: the sink's count differs from the source's in the checked window (9 vs 10); re-sync the window",
			"    kubectl syncjob backfill invoices --from 2026-06-30T00:00:00Z --to 2026-07-01T00:00:00Z --wait -n billing",
		}},
		{"stale", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastSuccessfulRunTime = at("2026-06-28T02:00:42Z")
		}, []string{
			"  suggested: no successful run since 2026-06-28T02:00:42Z: scheduled runs are not happening (suspended, or their Pods cannot start); run one and watch it",
			"    kubectl syncjob run invoices --wait -n billing",
		}},
		{"mapping changed", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			sj.Status.LastRun.MappingChange = &syncv1.MappingChange{Previous: "a", Current: "b", Resync: "None"}
		}, []string{
			"    kubectl syncjob reset invoices --to beginning --wait -n billing",
		}},
		{"active run and pending requests", func(sj *syncv1.SyncJob, f *Facts) {
			succeeded(sj)
			f.Active = &ActiveRun{Name: "invoices-m-1a2b3c4d", Trigger: "Manual", Started: statusNow.Add(-90 * time.Second), PodPhase: "Pending", Reason: "Unschedulable: 0/1 nodes available"}
			f.NextRun = time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
			sj.Annotations = map[string]string{syncv1.RunRequestedAnnotation: "t2", syncv1.ResetRequestedAnnotation: "r1"}
			sj.Status.LastHandledRunRequest, sj.Status.LastHandledResetRequest = "t1", "r1"
		}, []string{
			"  running now: invoices-m-1a2b3c4d (Manual), started 1m30s ago, Pod Pending: Unschedulable: 0/1 nodes available",
			"  next scheduled run 2026-07-01T10:00:00Z (in 1h, schedule \"0 2 * * *\")",
			"  run request \"t2\" is waiting for the controller",
			"  suggested: a run is under way; follow it",
			"    kubectl syncjob logs invoices -n billing",
		}},
		{"suspended", func(sj *syncv1.SyncJob, f *Facts) { succeeded(sj); sj.Spec.Suspend = ptr.To(true) }, []string{
			"  suspended: no scheduled runs (schedule \"0 2 * * *\"); requested runs still happen",
		}},
		{"invalid spec", func(sj *syncv1.SyncJob, f *Facts) {
			sj.Status.Conditions = []metav1.Condition{{Type: "Stalled", Status: "True", Reason: "InvalidSpec", Message: "spec.schedule \"x\" is not a valid cron schedule"}}
		}, []string{
			"  suggested: the spec cannot be acted on: spec.schedule \"x\" is not a valid cron schedule; fix it",
			"    kubectl edit syncjob invoices -n billing",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := testSyncJob()
			f := Facts{Now: statusNow}
			tc.setUp(sj, &f)
			out := StatusText(sj, f)
			lines := strings.Split(out, "\n")
			if last := sj.Status.LastRun; last != nil && last.CountsUnknown {
				g.Expect(out).NotTo(ContainSubstring("read 0"), "counts the runner never reported are not zero")
			}
			for _, w := range tc.want {
				g.Expect(lines).To(ContainElement(w), out)
			}
			g.Expect(out).To(ContainSubstring("Did it run?"))
			g.Expect(out).To(ContainSubstring("How far did it get?"))
			g.Expect(out).To(ContainSubstring("What next?"))
		})
	}
}

// TestPendingRequests: a request is pending while its token differs from the handled one.
func TestPendingRequests(t *testing.T) {
	g := NewWithT(t)
	sj := testSyncJob()
	g.Expect(PendingRequests(sj)).To(BeEmpty())
	sj.Annotations = map[string]string{syncv1.RunRequestedAnnotation: "a", syncv1.BackfillRequestedAnnotation: "b", syncv1.ResetRequestedAnnotation: "c"}
	sj.Status.LastHandledBackfillRequest = "b"
	g.Expect(PendingRequests(sj)).To(Equal([]Pending{{"run", "a"}, {"reset", "c"}}))
}

// TestFromStatus: status.activeRun and status.nextScheduledTime are read when the
// controller records them.
func TestFromStatus(t *testing.T) {
	g := NewWithT(t)
	a, next := fromStatus(&syncv1.SyncJobStatus{
		NextScheduledTime: at("2026-07-02T02:00:00Z"),
		ActiveRun:         &syncv1.ActiveRun{Name: "invoices-m-1", Trigger: "Manual", StartTime: at("2026-07-01T08:59:00Z"), PodPhase: "Running"},
	})
	g.Expect(next).To(Equal(time.Date(2026, 7, 2, 2, 0, 0, 0, time.UTC)))
	g.Expect(a).To(Equal(&ActiveRun{Name: "invoices-m-1", Trigger: "Manual", Started: time.Date(2026, 7, 1, 8, 59, 0, 0, time.UTC), PodPhase: "Running"}))
	a, next = fromStatus(&syncv1.SyncJobStatus{
		ActiveRun: &syncv1.ActiveRun{Name: "invoices-m-2", Trigger: "Manual", PodPhase: "Pending", PendingReason: "ImagePullBackOff: not found"},
	})
	g.Expect(a).To(Equal(&ActiveRun{Name: "invoices-m-2", Trigger: "Manual", PodPhase: "Pending", Reason: "ImagePullBackOff: not found"}))
	g.Expect(next.IsZero()).To(BeTrue())
	a, next = fromStatus(&syncv1.SyncJobStatus{})
	g.Expect(a).To(BeNil())
	g.Expect(next.IsZero()).To(BeTrue())
}

// TestRound: durations in words a person reads at a glance.
func TestRound(t *testing.T) {
	g := NewWithT(t)
	for d, want := range map[time.Duration]string{
		42 * time.Second: "42s", 90 * time.Second: "1m30s", 7 * time.Hour: "7h", 7*time.Hour + 61*time.Second: "7h1m",
		50 * time.Hour: "2d2h", 48 * time.Hour: "2d",
	} {
		g.Expect(round(d)).To(Equal(want), d.String())
	}
}

// TestCommandFirst: flags may come before the command, as with kubectl.
func TestCommandFirst(t *testing.T) {
	g := NewWithT(t)
	g.Expect(commandFirst([]string{"-n", "billing", "status", "invoices"})).To(Equal([]string{"status", "-n", "billing", "invoices"}))
	g.Expect(commandFirst([]string{"--context=kind", "run", "x"})).To(Equal([]string{"run", "--context=kind", "x"}))
	g.Expect(commandFirst([]string{"status", "x", "-n", "b"})).To(Equal([]string{"status", "x", "-n", "b"}))
	g.Expect(commandFirst([]string{"-n", "b"})).To(Equal([]string{"-n", "b"}))
}
