package runstatus

import (
	"context"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/runstatus/crapi"
)

// written is what a Writer left on a SyncJob, with what differs between two SyncJobs
// (UIDs, resourceVersions, times the apiserver stamps, namespaces) left out.
type written struct {
	Status  syncv1.SyncJobStatus
	Runner  []metav1.ManagedFieldsEntry // the runner field manager's entries: manager, operation, subresource, fields
	Events  []corev1.Event
	Missing error // Publish on a SyncJob that does not exist
}

// TestRunnerAndControllerAPIsWriteAlike runs the same Writer calls through the runner's
// API (kubeapi.Client) and the controller's (crapi, a controller-runtime client) on two
// SyncJobs and requires the same result: status, the runner field manager's entries (an
// Apply on the status subresource, the same fields, ownership forced from another
// manager), the Events, and a not-found error apierrors recognises.
func TestRunnerAndControllerAPIsWriteAlike(t *testing.T) {
	g := NewWithT(t)
	var got []written
	for _, tc := range []struct {
		name string
		api  func(admin client.Client) API
	}{
		{"runner", func(client.Client) API { return runnerAPI(t) }},
		{"controller", func(admin client.Client) API { return crapi.New(admin) }},
	} {
		ctx := context.Background()
		admin, ns := setup(t)
		// Another manager holds status.cursor: the Writer's apply must force it.
		other := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": syncv1.GroupVersion.String(), "kind": "SyncJob",
			"metadata": map[string]any{"name": "sj1", "namespace": ns},
			"status":   map[string]any{"cursor": map[string]any{"updatedAt": "2020-01-01T00:00:00Z", "id": "0"}},
		}}
		g.Expect(admin.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(other), client.FieldOwner("someone-else"))).To(Succeed())

		api := tc.api(admin)
		w := NewWriter(api, ns, "sj1", Options{Clock: clocktesting.NewFakeClock(epoch), Instance: "pod-" + tc.name})
		running := run(1, syncv1.RunPhaseRunning)
		running.CompletionTime = nil
		g.Expect(w.Publish(ctx, running, &syncv1.Cursor{UpdatedAt: "2026-06-30T12:00:00Z", ID: "5"})).To(Succeed(), tc.name)
		done := run(1, syncv1.RunPhasePartiallySucceeded)
		g.Expect(w.Publish(ctx, done, &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"})).To(Succeed(), tc.name)
		second := run(2, syncv1.RunPhaseSucceeded)
		second.Message = "retried postgres://crm:hunter2@db/crm once"
		g.Expect(w.Publish(ctx, second, nil)).To(Succeed(), tc.name)
		g.Expect(w.PublishCursor(ctx, nil)).To(Succeed(), tc.name)
		g.Expect(w.Event(ctx, corev1.EventTypeNormal, "CheckpointReset", "token=abc moved")).To(Succeed(), tc.name)

		sj := getSyncJob(g, admin, ns)
		wr := written{Status: sj.Status}
		for _, m := range sj.ManagedFields {
			if m.Manager == runcontract.RunnerFieldManager {
				wr.Runner = append(wr.Runner, metav1.ManagedFieldsEntry{Manager: m.Manager, Operation: m.Operation,
					Subresource: m.Subresource, FieldsType: m.FieldsType, FieldsV1: m.FieldsV1})
			}
		}
		evs := events(g, admin, ns)
		slices.SortFunc(evs, func(a, b corev1.Event) int { return strings.Compare(a.Reason, b.Reason) })
		for _, ev := range evs {
			g.Expect(ev.InvolvedObject.UID).To(Equal(sj.UID), tc.name)
			ev.ObjectMeta = metav1.ObjectMeta{}
			ev.InvolvedObject.Namespace, ev.InvolvedObject.UID, ev.InvolvedObject.ResourceVersion = "", "", ""
			ev.ReportingInstance = ""
			wr.Events = append(wr.Events, ev)
		}
		wr.Missing = NewWriter(api, ns, "nope", Options{}).Publish(ctx, done, nil)
		g.Expect(apierrors.IsNotFound(wr.Missing)).To(BeTrue(), "%s: %v", tc.name, wr.Missing)
		wr.Missing = nil

		g.Expect(wr.Status.Cursor).To(BeNil(), "%s: PublishCursor(nil) removed the cursor, forcing the other manager's", tc.name)
		g.Expect(wr.Status.LastRun.Message).To(Equal("retried postgres://REDACTED@db/crm once"), tc.name)
		g.Expect(wr.Runner).To(HaveLen(1), tc.name)
		g.Expect(wr.Runner[0].Operation).To(Equal(metav1.ManagedFieldsOperationApply), tc.name)
		g.Expect(wr.Runner[0].Subresource).To(Equal("status"), tc.name)
		g.Expect(wr.Events).To(HaveLen(3), tc.name)
		got = append(got, wr)
	}
	g.Expect(got[0]).To(Equal(got[1]), "the runner's API and the controller's write the same")
}
