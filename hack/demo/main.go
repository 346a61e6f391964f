// Command demo is the data and Kubernetes half of `make demo` (hack/demo/demo.sh brings the
// cluster up, deploys the operator and starts the demo's PostgreSQL or APIs first). It has
// two scenarios, each in its own namespace, recreated on every invocation:
//
//   - -demo postgres (namespace checkpointed-demo): the billing database with a few
//     thousand invoices, the CRM database with an empty invoice table, the Secrets holding
//     their DSNs and the SyncJob of hack/demo/syncjob.yaml; a full run, then some invoices
//     change and an incremental run writes exactly those.
//
//     go run ./hack/demo -port 15432 -pod-host 10.244.0.1
//
//   - -demo http (namespace checkpointed-demo-http): the seed example over the demo billing
//     API and CRM of hack/demo-services (started by hack/demo/services.sh), the SyncJob of
//     config/samples/sync_v1alpha1_syncjob.yaml with the demo APIs' addresses, their bearer
//     tokens in the Secrets billing-api and crm-api (read from $DEMO_BILLING_TOKEN and
//     $DEMO_CRM_TOKEN); a full run, a late payment behind the cursor, a run the billing
//     API stops with 429 that the next run finishes without duplicates, and
//     `kubectl syncjob explain` (-plugin) of an invoice the CRM refused (Failed) and of a
//     payment committed behind the cursor by more than the safety gap (MissedLateCommit).
//
//     go run ./hack/demo -demo http -billing-url http://127.0.0.1:18081 \
//     -crm-url http://127.0.0.1:18082 -pod-host 10.244.0.1
//
// The runner Pods reach this machine at -pod-host, the pod bridge's gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// runTimeout bounds the wait for one run.
const runTimeout = 5 * time.Minute

func main() {
	scenario := flag.String("demo", "postgres", "the scenario: postgres or http")
	port := flag.Int("port", 15432, "port of the demo's PostgreSQL (on 127.0.0.1 and -pod-host; -demo postgres)")
	podHost := flag.String("pod-host", "", "address at which Pods reach this machine (the pod bridge's gateway)")
	billingURL := flag.String("billing-url", "http://127.0.0.1:18081", "the demo billing API on loopback (-demo http); Pods use the same port on -pod-host")
	crmURL := flag.String("crm-url", "http://127.0.0.1:18082", "the demo CRM API on loopback (-demo http); Pods use the same port on -pod-host")
	sample := flag.String("sample", "config/samples/sync_v1alpha1_syncjob.yaml", "the SyncJob of -demo http, applied with its example.internal URLs pointing at the demo APIs")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "the cluster's admin kubeconfig")
	kubectl := flag.String("kubectl", "kubectl", "kubectl binary matching the cluster")
	plugin := flag.String("plugin", "bin/kubectl-syncjob", "the kubectl syncjob plugin (make build)")
	flag.Parse()
	if *podHost == "" || *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "demo: -pod-host and -kubeconfig (or KUBECONFIG) are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := newCluster(*kubeconfig, *kubectl)
	if err == nil {
		c.plugin = *plugin
		switch *scenario {
		case "postgres":
			err = (&pgDemo{cluster: c, port: *port, podHost: *podHost}).run(ctx)
		case "http":
			d := &httpDemo{cluster: c, podHost: *podHost, sample: *sample,
				billing: newAPI(*billingURL, os.Getenv("DEMO_BILLING_TOKEN")),
				crm:     newAPI(*crmURL, os.Getenv("DEMO_CRM_TOKEN"))}
			err = d.run(ctx)
		default:
			fmt.Fprintf(os.Stderr, "demo: unknown -demo %q (postgres or http)\n", *scenario)
			os.Exit(2)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

// cluster is the local cluster as the demo uses it: a client and kubectl for showing.
type cluster struct {
	kubeconfig string
	kubectl    string
	// plugin is the kubectl-syncjob binary.
	plugin string
	kube   client.Client
}

func newCluster(kubeconfig, kubectl string) (*cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), syncv1.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	kube, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client of the cluster: %w", err)
	}
	return &cluster{kubeconfig: kubeconfig, kubectl: kubectl, kube: kube}, nil
}

// freshNamespace deletes the namespace, waits until it is gone, and creates it again with
// the given Secrets (name → data).
func (c *cluster) freshNamespace(ctx context.Context, namespace string, secrets map[string]map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.kube.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	if err := poll(ctx, 2*time.Minute, "the previous demo namespace "+namespace+" to go", func() (bool, error) {
		err := c.kube.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	if err := c.kube.Create(ctx, ns); err != nil {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	for name, data := range secrets {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: data}
		if err := c.kube.Create(ctx, s); err != nil {
			return fmt.Errorf("create Secret %s/%s: %w", namespace, name, err)
		}
	}
	return nil
}

// requestRun requests a run with token, waits until it has ended, and returns its record
// whatever its phase. It fails when the SyncJob is Stalled.
func (c *cluster) requestRun(ctx context.Context, sj *syncv1.SyncJob, token string) (*syncv1.RunRecord, error) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, syncv1.RunRequestedAnnotation, token)
	if err := c.kube.Patch(ctx, sj.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return nil, fmt.Errorf("request a run: %w", err)
	}
	job := runcontract.RequestedJobName(sj.Name, runcontract.KindRun, token)
	step("requested a run: kubectl -n %s annotate syncjob %s %s=%s  →  Job %s", sj.Namespace, sj.Name, syncv1.RunRequestedAnnotation, token, job)
	var last *syncv1.RunRecord
	err := poll(ctx, runTimeout, "the run of Job "+job, func() (bool, error) {
		cur := &syncv1.SyncJob{}
		if err := c.kube.Get(ctx, client.ObjectKeyFromObject(sj), cur); err != nil {
			return false, err
		}
		for _, cond := range cur.Status.Conditions {
			if cond.Type == syncv1.ConditionStalled && cond.Status == metav1.ConditionTrue {
				return false, fmt.Errorf("SyncJob %s is stalled (%s): %s", cur.Name, cond.Reason, cond.Message)
			}
		}
		last = cur.Status.LastRun
		return last != nil && (last.RunID == job || strings.HasPrefix(last.RunID, job+"-")) &&
			last.Phase != "" && last.Phase != syncv1.RunPhaseRunning, nil
	})
	return last, err
}

// runOK requests a run, waits for it, requires it to succeed and prints the SyncJobs.
func (c *cluster) runOK(ctx context.Context, sj *syncv1.SyncJob, token string) (*syncv1.RunRecord, error) {
	start := time.Now()
	last, err := c.requestRun(ctx, sj, token)
	if err != nil {
		return nil, err
	}
	if last.Phase != syncv1.RunPhaseSucceeded {
		c.kubectlOut("-n", sj.Namespace, "describe", "syncjob", sj.Name)
		return nil, fmt.Errorf("run %s %s (%s): %s", last.RunID, last.Phase, last.Reason, last.Message)
	}
	step("run %s %s in %s: read %d, upserted %d, unchanged %d, failed %d",
		last.RunID, last.Phase, time.Since(start).Round(time.Second), last.Read, last.Upserted, last.Unchanged, last.Failed)
	c.kubectlOut("-n", sj.Namespace, "get", "syncjobs")
	return last, nil
}

// kubectlOut runs kubectl as the cluster's admin and shows the command and its output.
func (c *cluster) kubectlOut(args ...string) {
	fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "kubectl: %v\n", err)
	}
	fmt.Println()
}

// syncjob runs `kubectl syncjob args...` (the plugin binary) as the cluster's admin, shows
// the command and its output, and returns its stdout and exit code.
func (c *cluster) syncjob(args ...string) (string, int) {
	fmt.Printf("\n$ kubectl syncjob %s\n", strings.Join(args, " "))
	cmd := exec.Command(c.plugin, append(args, "--kubeconfig", c.kubeconfig)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &out), os.Stderr
	err := cmd.Run()
	fmt.Println()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "kubectl syncjob: %v\n", err)
	return out.String(), -1
}

// poll calls done every half second until it reports true, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("waiting for %s", what), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func step(format string, args ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// section prints the header of one part of a scenario.
func section(title string) {
	fmt.Printf("\n--- %s ---\n", title)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
