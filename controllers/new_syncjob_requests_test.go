package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// TestNewSyncJobRequests: what a new SyncJob costs the apiserver, the figure that decides
// how fast 10,000 converge. The objects only ever created — the checkpoint ConfigMap, the
// run Lease, the preflight Job — take one plain create each (cheaper for the apiserver than
// a server-side apply); the objects kept in line by applyOwned — ServiceAccount, Role,
// RoleBinding, CronJob — one apply each; the names the cache cannot answer for, one read
// past the cache each. The Lease is the SyncJob's own (owner reference, labels).
func TestNewSyncJobRequests(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sj := convergedSyncJob(t, "fresh") // Ready, its preflight recorded, the counters settled
	ns := sj.Namespace

	g.Expect(createsIn.get(ns)).To(Equal(int64(3)), "creates: checkpoint ConfigMap, run Lease, preflight Job")
	g.Expect(appliesIn.get(ns)).To(Equal(int64(4)), "applies: ServiceAccount, Role, RoleBinding, CronJob")
	g.Expect(apiReadsIn.get(ns)).To(Equal(int64(4)), "reads past the cache: the names of the applied kinds")

	lease := &coordinationv1.Lease{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: desired.LeaseName(sj)}, lease)).To(Succeed())
	ref := lease.OwnerReferences
	g.Expect(ref).To(HaveLen(1))
	g.Expect(ref[0].UID).To(Equal(sj.UID))
	g.Expect(lease.Labels).To(Equal(desired.Lease(sj).Labels))
}

// TestCreateOwnedFallsBackToApply: a run Lease of the SyncJob's name that the cache does
// not hold (made by hand, unlabelled) meets the plain create with AlreadyExists; the apply
// then decides as it did before creates were used, and the reconcile does not fail on it.
func TestCreateOwnedFallsBackToApply(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "leased")
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: desired.LeaseName(sj)}}
	g.Expect(k8sClient.Create(ctx, lease)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
		g.Expect(meta.FindStatusCondition(sj.Status.Conditions, syncv1.ConditionReconciling)).To(BeNil())
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(lease), lease)).To(Succeed())
		g.Expect(lease.Labels).To(Equal(desired.Lease(sj).Labels), "the apply after AlreadyExists")
	}, timeout, interval).Should(Succeed())
}
