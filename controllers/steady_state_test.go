package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestSteadyStateMakesNoWrites: once converged, the controller writes nothing for these
// SyncJobs: neither its client's writes in their namespace nor any resourceVersion of the
// SyncJobs and what they own moves during a 10-second idle window.
//
// The count is per namespace: SyncJobs that earlier tests left behind may rightly write
// meanwhile. TestStaleAfterTwoMissedRuns, for one, moves the suite's clock forward and back,
// so its SyncJob renews status.nextScheduledTime when its requeue at the next scheduled time
// (by the moved clock) fires, which once fell inside this window.
func TestSteadyStateMakesNoWrites(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	for i := range 5 {
		g.Expect(k8sClient.Create(ctx, sampleSyncJob(ns, fmt.Sprintf("idle-%d", i)))).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		list := &syncv1.SyncJobList{}
		g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(5))
		for _, sj := range list.Items {
			g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
		}
	}, timeout, interval).Should(Succeed())
	settle(g, ns) // the first reconciles' follow-ups are done

	before := writesIn.get(ns)
	g.Expect(before).To(BeNumerically(">", 0), "the controller's writes in this namespace are counted")
	versions := resourceVersions(g, ns)
	time.Sleep(10 * time.Second) // the idle window under test
	g.Expect(writesIn.get(ns)-before).To(BeZero(), "controller writes during the idle window")
	g.Expect(resourceVersions(g, ns)).To(Equal(versions))
}

// resourceVersions maps every SyncJob and owned object in ns to its resourceVersion.
func resourceVersions(g Gomega, ns string) map[string]string {
	out := map[string]string{}
	for _, l := range []client.ObjectList{
		&syncv1.SyncJobList{}, &batchv1.CronJobList{}, &corev1.ServiceAccountList{}, &rbacv1.RoleList{},
		&rbacv1.RoleBindingList{}, &corev1.ConfigMapList{}, &coordinationv1.LeaseList{},
	} {
		g.Expect(k8sClient.List(context.Background(), l, client.InNamespace(ns))).To(Succeed())
		items, err := meta.ExtractList(l)
		g.Expect(err).NotTo(HaveOccurred())
		for _, it := range items {
			o := it.(client.Object)
			out[fmt.Sprintf("%T/%s", o, o.GetName())] = o.GetResourceVersion()
		}
	}
	g.Expect(len(out)).To(BeNumerically(">", 5*6), "expected the SyncJobs and their owned objects")
	return out
}

// TestReconcileOfConvergedSyncJobWritesNothing: a reconcile of a converged SyncJob with no
// pending request (here brought by an annotation that is no request) sends no write, not
// even a no-op apply of an owned object, and reads nothing past the cache (no APIReader
// call: that is kept for a request about to start a Job and for a name the cache does not
// hold).
func TestReconcileOfConvergedSyncJobWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := convergedSyncJob(t, "converged") // Ready, its preflight recorded, the counters settled
	ns := sj.Namespace

	writesBefore, readsBefore, reconcilesBefore := writesIn.get(ns), apiReadsIn.get(ns), reconcilesIn.get(ns)
	g.Expect(writesBefore).To(BeNumerically(">", 0), "the controller's writes in this namespace (owned objects, status) are counted")
	g.Expect(k8sClient.Patch(ctx, sj, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"example.com/note":"not a request"}}}`)))).To(Succeed())
	g.Eventually(func() int64 { return reconcilesIn.get(ns) }, timeout, interval).Should(BeNumerically(">", reconcilesBefore),
		"the annotation change brings a reconcile")
	g.Consistently(func() int64 { return writesIn.get(ns) - writesBefore }, 3*time.Second, interval).Should(BeZero(),
		"writes by a reconcile that has nothing to change")
	g.Expect(apiReadsIn.get(ns)-readsBefore).To(BeZero(), "reads past the cache with no request pending")
}
