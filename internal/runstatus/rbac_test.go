package runstatus

import (
	"context"
	"errors"
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// runnerRole is the least privilege a runner of sj1 gets from the controller.
func runnerRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "sj1-runner", Namespace: ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{syncv1.GroupVersion.Group}, Resources: []string{"syncjobs"}, ResourceNames: []string{"sj1"}, Verbs: []string{"get"}},
			{APIGroups: []string{syncv1.GroupVersion.Group}, Resources: []string{"syncjobs/status"}, ResourceNames: []string{"sj1"}, Verbs: []string{"patch", "update"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"sj1-checkpoint"}, Verbs: []string{"get", "update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"sj1-run"}, Verbs: []string{"get", "update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		},
	}
}

// TestRunnerWritesWithLeastPrivilege impersonates the runner's ServiceAccount, bound to
// runnerRole only, and runs everything the runner does in a cluster.
func TestRunnerWritesWithLeastPrivilege(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	admin, ns := setup(t)

	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sj1-runner", Namespace: ns}},
		runnerRole(ns),
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "sj1-runner", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "sj1-runner"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sj1-runner", Namespace: ns}},
		},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sj1-checkpoint", Namespace: ns}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other-checkpoint", Namespace: ns}},
	}
	for _, o := range objs {
		g.Expect(admin.Create(ctx, o)).To(Succeed())
	}

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":sj1-runner"}
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	c, err := kubeapi.New(cfg)
	g.Expect(err).NotTo(HaveOccurred())

	// Checkpoint: load and save (the authorizer may need a moment to see the new binding).
	store := checkpoint.NewConfigMapStore(c.ConfigMaps(ns), ns, "sj1")
	g.Eventually(func() error { _, err := store.Load(ctx); return err }).Should(Succeed())
	g.Expect(store.Save(ctx, runcontract.Checkpoint{SafetyGap: "5m"})).To(Succeed())

	// Run lock: the Lease does not exist yet, so the runner creates it.
	lock := checkpoint.NewLeaseLock(c.Leases(ns), ns, "sj1", checkpoint.NewHolderIdentity("sj1-abcde"), checkpoint.LeaseOptions{})
	held, release, err := lock.Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(held.Err()).NotTo(HaveOccurred())
	_, _, err = checkpoint.NewLeaseLock(c.Leases(ns), ns, "sj1", "someone-else", checkpoint.LeaseOptions{}).Acquire(ctx)
	g.Expect(errors.Is(err, checkpoint.ErrLocked)).To(BeTrue(), "got %v", err)
	release()
	_, releaseAgain, err := lock.Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "get and update suffice once the Lease exists")
	releaseAgain()

	// Status and event.
	cur := &syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"}
	g.Expect(NewWriter(c, ns, "sj1", Options{}).Publish(ctx, run(1, syncv1.RunPhaseSucceeded), cur)).To(Succeed())
	var sj syncv1.SyncJob
	g.Expect(admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sj1"}, &sj)).To(Succeed())
	g.Expect(sj.Status.Cursor).To(Equal(cur))
	g.Expect(events(g, admin, ns)).To(HaveLen(1))

	// Nothing beyond its own objects.
	_, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "other-checkpoint", metav1.GetOptions{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "another ConfigMap: %v", err)
	_, err = checkpoint.NewConfigMapStore(c.ConfigMaps(ns), ns, "other").Load(ctx)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "another job's checkpoint: %v", err)
	_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing: %v", err)
	err = NewWriter(c, ns, "sj2", Options{}).Publish(ctx, run(1, syncv1.RunPhaseSucceeded), cur)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "another SyncJob: %v", err)
}
