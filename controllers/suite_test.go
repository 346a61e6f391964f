package controllers

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/eventrecorder"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// The suite shares one control plane (kube-apiserver, etcd and a kube-controller-manager
// running the garbage collector, Job and ServiceAccount controllers) and one manager; each test works in its own namespace.
var (
	env       *kubetest.Env
	k8sClient client.Client
	// cachedClient is the suite manager's client (reads from its cache, with its indexes).
	cachedClient client.Client
	// writesIn counts the writes made by the controller's client, per namespace of the
	// object written (tests share the suite's manager: each counts its own namespace).
	writesIn nsCounts
	// reconcilesIn and apiReadsIn count, per namespace, the controller's reads of a SyncJob
	// (one at the start of every reconcile) and its reads past the cache (APIReader).
	reconcilesIn, apiReadsIn nsCounts
	// createsIn and appliesIn count, per namespace, the controller's creates and its
	// server-side applies of objects (not of status): what a new SyncJob costs the apiserver.
	createsIn, appliesIn nsCounts
	fakeClock            = clocktesting.NewFakePassiveClock(time.Now())
	testRunner           = "example.com/checkpointed/runner:test"
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	var err error
	env, err = kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	kcm, err := env.StartControllerManager("garbagecollector", "job", "serviceaccount")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kcm.Stop()

	k8sClient, err = client.New(env.Config, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 kubetest.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: CacheOptions()},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cachedClient = mgr.GetClient()
	events, err := eventrecorder.ForManager(mgr, runcontract.ControllerFieldManager, logr.Discard())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r := &SyncJobReconciler{
		Client:  countingClient{mgr.GetClient()},
		Events:  events,
		Clock:   fakeClock,
		Options: desired.Options{RunnerImage: testRunner},
		// Tests name other example.com images; runner_image_test.go one outside it.
		AllowedRunnerImages: allowedTestImages,
		APIReader:           countingReader{mgr.GetAPIReader()},
	}
	if err := r.SetupWithManager(mgr, 2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -1
	}
	return 1
}

// countingClient counts every write the controller makes, and its reads of SyncJobs per
// namespace; reads go to the manager's cache.
type countingClient struct{ client.Client }

func (c countingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*syncv1.SyncJob); ok {
		reconcilesIn.add(key.Namespace)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// countingReader counts the controller's reads past the cache per namespace.
type countingReader struct{ client.Reader }

func (c countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	apiReadsIn.add(key.Namespace)
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	apiReadsIn.add(o.Namespace)
	return c.Reader.List(ctx, list, opts...)
}

// nsCounts counts events per namespace.
type nsCounts struct{ m sync.Map }

func (c *nsCounts) add(ns string) {
	v, _ := c.m.LoadOrStore(ns, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (c *nsCounts) get(ns string) int64 {
	if v, ok := c.m.Load(ns); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (c countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	countWrite(obj.GetNamespace())
	createsIn.add(obj.GetNamespace())
	return c.Client.Create(ctx, obj, opts...)
}

func (c countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	countWrite(obj.GetNamespace())
	return c.Client.Update(ctx, obj, opts...)
}

func (c countingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	countWrite(obj.GetNamespace())
	return c.Client.Patch(ctx, obj, p, opts...)
}

func (c countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	countWrite(applyNamespace(obj))
	appliesIn.add(applyNamespace(obj))
	return c.Client.Apply(ctx, obj, opts...)
}

func (c countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	countWrite(obj.GetNamespace())
	return c.Client.Delete(ctx, obj, opts...)
}

func (c countingClient) Status() client.SubResourceWriter { return countingStatus{c.Client.Status()} }

// countWrite counts one write by the controller's client for namespace ns.
func countWrite(ns string) {
	writesIn.add(ns)
}

// applyNamespace is the namespace of an apply configuration: typed ones name it through
// GetNamespace, the controller's unstructured status apply through its object.
func applyNamespace(obj runtime.ApplyConfiguration) string {
	switch o := obj.(type) {
	case interface{ GetNamespace() *string }:
		if ns := o.GetNamespace(); ns != nil {
			return *ns
		}
	case interface{ GetNamespace() string }:
		return o.GetNamespace()
	}
	return ""
}

// countingStatus counts status writes.
type countingStatus struct{ client.SubResourceWriter }

func (s countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	countWrite(obj.GetNamespace())
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s countingStatus) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	countWrite(obj.GetNamespace())
	return s.SubResourceWriter.Patch(ctx, obj, p, opts...)
}

func (s countingStatus) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	countWrite(applyNamespace(obj))
	return s.SubResourceWriter.Apply(ctx, obj, opts...)
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// sampleSyncJob is a valid Postgres → Postgres SyncJob.
func sampleSyncJob(ns, name string) *syncv1.SyncJob {
	return &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: syncv1.SyncJobSpec{
			Purpose:  "Invoices for account managers",
			Owner:    "revops",
			Schedule: "0 2 * * *",
			TimeZone: ptr.To("Europe/Berlin"),
			Source: syncv1.SourceSpec{Name: "billing", Postgres: &syncv1.PostgresSource{
				DSN: syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}, Table: "invoices"}},
			Sink: syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{
				DSN: syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}, Table: "crm_invoices"}},
			Key: syncv1.KeySpec{Field: "billing_invoice_id"},
			Mapping: []syncv1.FieldMapping{
				{To: "status", From: "status", Required: true},
				{To: "total", From: "total", Type: syncv1.FieldDecimal},
			},
		},
	}
}

const (
	timeout  = 20 * time.Second
	interval = 100 * time.Millisecond
)

// updateSpec changes sj's spec as a user would: read, change, update, and on a conflict
// (the controller's status write landed in between, as it does right after creation) read
// again and retry.
func updateSpec(g Gomega, sj *syncv1.SyncJob, change func(*syncv1.SyncJobSpec)) {
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(sj), sj); err != nil {
			return err
		}
		change(&sj.Spec)
		return k8sClient.Update(context.Background(), sj)
	})).To(Succeed())
}

// convergedSyncJob creates the sample SyncJob name in a new namespace and waits until it
// is Ready and the controller's writes there have stopped; it returns the SyncJob as the
// apiserver holds it.
func convergedSyncJob(t *testing.T, name string) *syncv1.SyncJob {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	sj := sampleSyncJob(newNamespace(t), name)
	g.Expect(k8sClient.Create(ctx, sj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sj), sj)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
		g.Expect(sj.Status.Preflight).NotTo(BeNil())
	}, timeout, interval).Should(Succeed())
	settle(g, sj.Namespace)
	return sj
}

// settle waits until the controller's writes and reconciles in ns stop moving.
func settle(g Gomega, ns string) {
	var last int64 = -1
	g.Eventually(func() bool {
		now := writesIn.get(ns) + reconcilesIn.get(ns)
		settled := now == last
		last = now
		return settled
	}, timeout, time.Second).Should(BeTrue())
}
