package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

// TestRecentWrites: a write is remembered for recentWriteTTL, until forgotten; a key
// written again keeps its newer write when its older one expires; once every write has
// expired nothing is held.
func TestRecentWrites(t *testing.T) {
	g := NewWithT(t)
	var w recentWrites
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	role := recentKey{"Role", types.NamespacedName{Namespace: "ns", Name: "sj-runner"}}
	cj := recentKey{"CronJob", types.NamespacedName{Namespace: "ns", Name: "sj"}}

	_, ok := w.lookup(role, t0)
	g.Expect(ok).To(BeFalse(), "nothing written")
	w.record(role, "d1", t0)
	rw, ok := w.lookup(role, t0.Add(recentWriteTTL-time.Millisecond))
	g.Expect(ok).To(BeTrue())
	g.Expect(rw.digest).To(Equal("d1"))
	_, ok = w.lookup(role, t0.Add(recentWriteTTL))
	g.Expect(ok).To(BeFalse(), "expired")
	g.Expect(w.len()).To(Equal(0), "expired writes are dropped")

	w.record(role, "d1", t0)
	w.record(cj, "c1", t0.Add(time.Second))
	w.forget(role)
	_, ok = w.lookup(role, t0.Add(2*time.Second))
	g.Expect(ok).To(BeFalse(), "forgotten: the cache shows it")
	_, ok = w.lookup(cj, t0.Add(2*time.Second))
	g.Expect(ok).To(BeTrue(), "forgetting one keeps the others")

	w.record(role, "d1", t0.Add(3*time.Second))
	w.record(role, "d2", t0.Add(20*time.Second))
	rw, ok = w.lookup(role, t0.Add(3*time.Second+recentWriteTTL))
	g.Expect(ok).To(BeTrue(), "the older write's expiry keeps the newer one")
	g.Expect(rw.digest).To(Equal("d2"))
	_, ok = w.lookup(role, t0.Add(20*time.Second+recentWriteTTL))
	g.Expect(ok).To(BeFalse())
	g.Expect(w.len()).To(Equal(0))
	g.Expect(w.order).To(BeEmpty())
}

// laggingClient is the client of a reconciler whose cache has not shown yet the objects
// the controller writes for a SyncJob (ServiceAccount, Role, RoleBinding, CronJob,
// checkpoint ConfigMap, run Lease: Get answers NotFound), as right after a reconcile
// wrote them; it counts the applies and creates it sends.
type laggingClient struct {
	client.Client
	applies, creates *atomic.Int64
	kinds            *atomic.Value // []string: the kinds applied, in order
}

func (c laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	switch o := obj.(type) {
	case *corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding, *batchv1.CronJob, *corev1.ConfigMap, *coordinationv1.Lease:
		return apierrors.NewNotFound(schema.GroupResource{Resource: "hidden"}, key.Name)
	case *metav1.PartialObjectMetadata: // a CronJob, as the cache holds it
		return apierrors.NewNotFound(schema.GroupResource{Resource: "hidden " + o.Kind}, key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c laggingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.applies.Add(1)
	if o, ok := obj.(interface{ GetKind() *string }); ok && c.kinds != nil {
		c.kinds.Store(append(c.kinds.Load().([]string), *o.GetKind()))
	}
	return c.Client.Apply(ctx, obj, opts...)
}

func (c laggingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*batchv1.Job); !ok { // the preflight Job is not hidden
		c.creates.Add(1)
	}
	return c.Client.Create(ctx, obj, opts...)
}

// readCounter counts reads past the cache.
type readCounter struct {
	client.Reader
	n *atomic.Int64
}

func (c readCounter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.n.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

// TestLaggingCacheTrustsRecentWrites: a reconcile right after the one that wrote a new
// SyncJob's objects, whose cache does not show them yet, neither reads them past the cache
// nor writes them again (it was 4 reads and, for the run Lease and the checkpoint
// ConfigMap, creates that met AlreadyExists); it asks for another look once its memory
// of the writes has expired, and an object deleted in the meantime is then made again.
//
// The reconciler under test runs beside the suite's manager; its SyncJob names a runner
// image only it allows, so that the manager refuses the SyncJob and never touches its
// objects.
func TestLaggingCacheTrustsRecentWrites(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "lagging")
	const image = "registry.invalid/runner:lagging" // outside the manager's allow-list
	sj.Spec.Runner.Image = image
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), sj) })

	var applies, creates, reads atomic.Int64
	var kinds atomic.Value
	kinds.Store([]string(nil))
	clk := clocktesting.NewFakePassiveClock(time.Now())
	r := &SyncJobReconciler{
		Client:    laggingClient{Client: cachedClient, applies: &applies, creates: &creates, kinds: &kinds},
		APIReader: readCounter{Reader: k8sClient, n: &reads},
		Events:    events.NewFakeRecorder(100),
		Clock:     clk,
		Options:   desired.Options{RunnerImage: image},
	}
	reconcile := func() ctrl.Result {
		t.Helper()
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sj)})
		g.Expect(err).NotTo(HaveOccurred())
		return res
	}

	g.Eventually(func() error { // the reconciler reads the SyncJob from the manager's cache
		return cachedClient.Get(ctx, client.ObjectKeyFromObject(sj), &syncv1.SyncJob{})
	}, timeout, interval).Should(Succeed())
	reconcile()
	g.Expect(reads.Load()).To(Equal(int64(4)), "first reconcile: the names of the applied kinds, past the cache")
	g.Expect(applies.Load()).To(BeNumerically(">=", 4), "ServiceAccount, Role, RoleBinding, CronJob (and the preflight Job)")
	g.Expect(creates.Load()).To(Equal(int64(2)), "checkpoint ConfigMap, run Lease")
	role := &rbacv1.Role{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: desired.ServiceAccountName(sj)}, role)).To(Succeed())

	reads.Store(0)
	applies.Store(0)
	creates.Store(0)
	res := reconcile()
	g.Expect(reads.Load()).To(BeZero(), "second reconcile, cache still lagging: no read past it")
	g.Expect(applies.Load()).To(BeZero(), "nothing applied again")
	g.Expect(creates.Load()).To(BeZero(), "nothing created again")
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", recentWriteTTL), "another look once the memory expires")

	// Deleted before the cache ever showed it: within the memory's life it is taken as
	// there; the look after it makes it again.
	g.Expect(k8sClient.Delete(ctx, role)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(role), &rbacv1.Role{}))
	}, timeout, interval).Should(BeTrue())
	reconcile()
	g.Expect(applies.Load()).To(BeZero())
	clk.SetTime(clk.Now().Add(recentWriteTTL))
	kinds.Store([]string(nil))
	reconcile()
	g.Expect(reads.Load()).To(Equal(int64(4)), "memory expired: read past the cache again")
	// The cache still hides everything: the ConfigMap's and the Lease's creates meet
	// AlreadyExists (the Lease's then falls back to its apply, as when a cache lags for
	// longer than the memory); of the applied kinds only the deleted Role is applied again.
	g.Expect(kinds.Load()).To(ConsistOf("Role", "Lease"))
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(role), &rbacv1.Role{})).To(Succeed())
	g.Expect(creates.Load()).To(Equal(int64(2)), "the ConfigMap and Lease exist: the creates meet AlreadyExists")
}
