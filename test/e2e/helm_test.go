package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmkube "helm.sh/helm/v4/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// The operator the suite deploys (hack/cluster/deploy.sh, config/default).
const (
	suiteManagerNS     = "checkpointed-system"
	suiteManagerDeploy = "checkpointed-controller-manager"
)

// TestHelmChartInstall installs charts/checkpointed with the Helm SDK into a namespace of
// its own, restricted to the test's namespace (rbac.namespaced, watchNamespaces), waits
// for its manager to be Ready, runs a Postgres → Postgres SyncJob through it, then
// uninstalls the release and finds none of its objects left.
//
// The suite's operator (config/default) watches every namespace and would reconcile the
// test's SyncJob too, so this test proves nothing while it runs: the test is not parallel
// (go test runs it before any parallel test starts) and scales the suite's manager to 0
// for its duration, restoring it at the end. The CRD is the suite's (SkipCRDs), and the
// release's objects have names of their own (release e2e-chart): nothing collides.
func TestHelmChartInstall(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	relNS := "e2e-helm-" + randomHex(2)
	const release = "e2e-chart"

	pauseSuiteManager(t)

	cfg := helmConfig(t, relNS)
	ch, err := loader.Load(filepath.Join(repoRoot, "charts", "checkpointed"))
	g.Expect(err).NotTo(HaveOccurred())
	install := action.NewInstall(cfg)
	install.ReleaseName = release
	install.Namespace = relNS
	install.CreateNamespace = true
	install.SkipCRDs = true
	install.WaitStrategy = helmkube.StatusWatcherStrategy
	install.Timeout = 3 * time.Minute
	t.Cleanup(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: relNS}}
		if err := client.IgnoreNotFound(kube.Delete(context.Background(), ns)); err != nil {
			t.Logf("delete namespace %s: %v", relNS, err)
		}
	})
	uninstalled := false
	t.Cleanup(func() {
		if uninstalled {
			return
		}
		if t.Failed() {
			out, _ := kubectl("-n", relNS, "logs", "deployment/"+release+"-checkpointed-manager", "--tail=60")
			t.Logf("the release's manager log:\n%s", out)
		}
		if _, err := uninstall(cfg).Run(release); err != nil {
			t.Logf("uninstall %s: %v", release, err)
		}
	})
	_, err = install.RunWithContext(context.Background(), ch, map[string]any{
		"watchNamespaces": []any{e.ns},
		"rbac":            map[string]any{"namespaced": true},
	})
	g.Expect(err).NotTo(HaveOccurred(), "helm install")

	// The manager is Ready.
	deploy := release + "-checkpointed-manager"
	g.Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(kube.Get(context.Background(), client.ObjectKey{Namespace: relNS, Name: deploy}, d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(1))
		g.Expect(d.Status.Conditions).To(ContainElement(And(
			HaveField("Type", appsv1.DeploymentAvailable), HaveField("Status", corev1.ConditionTrue))))
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())

	// A requested run of the suite's Postgres sample, reconciled by the release's manager
	// alone, succeeds and copies every invoice.
	const name = "invoices"
	insertInvoices(t, e.src, 1, 200, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	e.syncJob(name, nil)
	job := e.requestRun(name, "run-1")
	sj := e.waitRunOf(name, job, runTimeout)
	run := sj.Status.LastRun
	g.Expect(run.Phase).To(Equal(syncv1.RunPhaseSucceeded), "%s: %s", run.Reason, run.Message)
	g.Expect(run.Read).To(BeEquivalentTo(200))
	g.Expect(run.Upserted).To(BeEquivalentTo(200))
	expectSinkEqualsSource(t, e)

	// Uninstalled, the release leaves none of its objects behind.
	_, err = uninstall(cfg).Run(release)
	g.Expect(err).NotTo(HaveOccurred(), "helm uninstall")
	uninstalled = true
	mine := client.MatchingLabels{"app.kubernetes.io/instance": release}
	g.Eventually(func(g Gomega) {
		for _, ns := range []string{relNS, e.ns} {
			for _, list := range []client.ObjectList{
				&appsv1.DeploymentList{}, &corev1.ServiceAccountList{}, &corev1.ServiceList{},
				&rbacv1.RoleList{}, &rbacv1.RoleBindingList{},
			} {
				g.Expect(kube.List(context.Background(), list, client.InNamespace(ns), mine)).To(Succeed())
				g.Expect(metaNames(list)).To(BeEmpty(), "%T in %s", list, ns)
			}
		}
		for _, list := range []client.ObjectList{&rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{}} {
			g.Expect(kube.List(context.Background(), list, mine)).To(Succeed())
			g.Expect(metaNames(list)).To(BeEmpty(), "%T", list)
		}
		// Nor its release records.
		secrets := &corev1.SecretList{}
		g.Expect(kube.List(context.Background(), secrets, client.InNamespace(relNS), client.MatchingLabels{"owner": "helm", "name": release})).To(Succeed())
		g.Expect(metaNames(secrets)).To(BeEmpty())
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
}

// helmConfig is a Helm action configuration for the cluster's admin, releases stored as
// Secrets in namespace ns; Helm's log goes to the test's log.
func helmConfig(t *testing.T, ns string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &ns
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(testWriter{t}, nil)))
	if err := cfg.Init(flags, ns, "secret"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	return cfg
}

// testWriter writes to a test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("helm: %s", p)
	return len(p), nil
}

var _ io.Writer = testWriter{}

// pauseSuiteManager scales the suite's manager to 0 and waits for its Pods to be gone;
// at the end of the test it scales it back to 1 and waits until it is Available.
func pauseSuiteManager(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if _, err := kubectl("-n", suiteManagerNS, "scale", "deployment/"+suiteManagerDeploy, "--replicas=1"); err != nil {
			t.Errorf("scale the suite's manager back up: %v", err)
			return
		}
		if _, err := kubectl("-n", suiteManagerNS, "rollout", "status", "deployment/"+suiteManagerDeploy, "--timeout=120s"); err != nil {
			t.Errorf("the suite's manager did not come back: %v", err)
		}
	})
	if _, err := kubectl("-n", suiteManagerNS, "scale", "deployment/"+suiteManagerDeploy, "--replicas=0"); err != nil {
		t.Fatalf("scale the suite's manager down: %v", err)
	}
	NewWithT(t).Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(kube.List(context.Background(), pods, client.InNamespace(suiteManagerNS),
			client.MatchingLabels{"app.kubernetes.io/name": "checkpointed", "app.kubernetes.io/component": "manager"})).To(Succeed())
		g.Expect(metaNames(pods)).To(BeEmpty(), "the suite's manager Pods are still there")
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
}

// metaNames lists the names of a list's items.
func metaNames(list client.ObjectList) []string {
	items, err := meta.ExtractList(list)
	if err != nil {
		panic(fmt.Sprintf("metaNames: %T: %v", list, err))
	}
	var out []string
	for _, o := range items {
		if a, err := meta.Accessor(o); err == nil {
			out = append(out, a.GetName())
		}
	}
	return out
}

// uninstall is Helm's uninstall action waiting the way the install does (Helm v4 wants a
// wait strategy named).
func uninstall(cfg *action.Configuration) *action.Uninstall {
	u := action.NewUninstall(cfg)
	u.WaitStrategy = helmkube.StatusWatcherStrategy
	return u
}
