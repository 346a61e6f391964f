package kubectlsyncjob

import (
	"bytes"
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestWaitForAReset: a reset is not a run; --wait ends with its Job: Complete → exit 0 and
// the new cursor, Failed → exit 1 naming the Job; a handled reset whose Job is already gone
// ends after a grace period.
func TestWaitForAReset(t *testing.T) {
	const token = "2026-07-01T09:00:00.000000001Z"
	for _, tc := range []struct {
		name string
		cond batchv1.JobConditionType
		job  bool
		code int
		out  string
	}{
		{"complete", batchv1.JobComplete, true, 0, "reset Job invoices-r-"},
		{"failed", batchv1.JobFailed, true, 1, "failed: the checkpoint was not reset"},
		{"gone", "", false, 0, "was handled; its Job invoices-r-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := testSyncJob()
			sj.Status.LastHandledResetRequest = token
			sj.Status.Cursor = &syncv1.Cursor{UpdatedAt: "2026-06-30T00:00:00Z"}
			b := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(sj)
			if tc.job {
				b = b.WithObjects(&batchv1.Job{
					ObjectMeta: metav1.ObjectMeta{Namespace: sj.Namespace, Name: runcontract.RequestedJobName(sj.Name, runcontract.KindReset, token)},
					Status:     batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: tc.cond, Status: corev1.ConditionTrue}}},
				})
			}
			var out bytes.Buffer
			now := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
			p := &Plugin{Client: b.Build(), Namespace: sj.Namespace, Out: &out, Err: &out, Poll: time.Millisecond,
				Now: func() time.Time { now = now.Add(time.Second); return now }}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := p.Wait(ctx, sj.Name, KindReset, token)
			if tc.code == 0 {
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(code).To(Equal(tc.code))
			g.Expect(out.String()).To(ContainSubstring(tc.out))
			if tc.name == "complete" {
				g.Expect(out.String()).To(ContainSubstring("the checkpoint starts at 2026-06-30T00:00:00Z"))
			}
		})
	}
}
