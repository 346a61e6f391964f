// Command demo is the data and Kubernetes half of `make demo` (hack/demo/demo.sh brings the
// cluster up, deploys the operator and starts the demo's PostgreSQL first): it creates the
// billing database with a few thousand invoices and the CRM database with an empty invoice
// table, the Secrets holding their DSNs, and the SyncJob of hack/demo/syncjob.yaml; then it
// requests a run, waits for it and shows the SyncJob and a few synced rows; then it changes
// some invoices, requests another run and shows that exactly those were written.
//
//	go run ./hack/demo -port 15432 -pod-host 10.244.0.1
//
// The runner Pods log in as the role demo_runner with a random password that only the
// Secrets hold. Everything is recreated on every invocation.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
)

//go:embed syncjob.yaml
var syncJobYAML []byte

// The demo's names.
const (
	namespace  = "checkpointed-demo"
	runnerRole = "demo_runner"
	invoices   = 5000
	changed    = 25
	runTimeout = 5 * time.Minute
)

func main() {
	port := flag.Int("port", 15432, "port of the demo's PostgreSQL (on 127.0.0.1 and -pod-host)")
	podHost := flag.String("pod-host", "", "address at which Pods reach the demo's PostgreSQL (the pod bridge's gateway)")
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "the cluster's admin kubeconfig")
	kubectl := flag.String("kubectl", "kubectl", "kubectl binary matching the cluster")
	flag.Parse()
	if *podHost == "" || *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "demo: -pod-host and -kubeconfig (or KUBECONFIG) are required")
		os.Exit(2)
	}
	d := &demo{port: *port, podHost: *podHost, kubeconfig: *kubeconfig, kubectl: *kubectl}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "demo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	port       int
	podHost    string
	kubeconfig string
	kubectl    string
	password   string
	kube       client.Client
}

func (d *demo) run(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		return fmt.Errorf("load %s: %w", d.kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), syncv1.AddToScheme(scheme)); err != nil {
		return err
	}
	if d.kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("client of the cluster: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	d.password = hex.EncodeToString(b[:])

	if err := d.databases(ctx); err != nil {
		return err
	}
	step("billing.invoices: %d invoices of 40 customers; crm.crm_invoices: empty", invoices)
	sj, err := d.apply(ctx)
	if err != nil {
		return err
	}
	step("SyncJob %s/%s applied (hack/demo/syncjob.yaml), Secrets billing-db and crm-db hold the DSNs", namespace, sj.Name)

	first, err := d.runOnce(ctx, sj, "demo-1")
	if err != nil {
		return err
	}
	if first.Upserted != invoices {
		return fmt.Errorf("the first run upserted %d invoices, want %d", first.Upserted, invoices)
	}
	d.show(ctx, "SELECT billing_invoice_id, billing_customer_id, status, total, is_paid, sync_run_id FROM crm_invoices ORDER BY billing_invoice_id::bigint LIMIT 5")

	step("changing %d invoices in billing (status → paid, updated_at → now)", changed)
	if err := d.exec(ctx, "billing", fmt.Sprintf(`UPDATE invoices SET status = 'paid', updated_at = now()
		WHERE id IN (SELECT id FROM invoices WHERE status <> 'paid' ORDER BY id LIMIT %d)`, changed)); err != nil {
		return err
	}
	second, err := d.runOnce(ctx, sj, "demo-2")
	if err != nil {
		return err
	}
	if second.Upserted != changed {
		return fmt.Errorf("the incremental run upserted %d invoices, want the %d changed ones", second.Upserted, changed)
	}
	step("incremental run: upserted %d = the %d changed invoices (read %d: the changes, and what the 5m safety gap re-reads, unchanged %d)",
		second.Upserted, changed, second.Read, second.Unchanged)
	d.show(ctx, fmt.Sprintf("SELECT billing_invoice_id, status, is_paid, synced_at, sync_run_id FROM crm_invoices WHERE sync_run_id = '%s' ORDER BY billing_invoice_id::bigint LIMIT 5", second.RunID))
	return nil
}

// databases creates the role the Pods log in as, and the billing and CRM databases.
func (d *demo) databases(ctx context.Context) error {
	// The password is hex: safe inside a literal.
	for _, s := range []string{
		"DROP DATABASE IF EXISTS billing WITH (FORCE)",
		"DROP DATABASE IF EXISTS crm WITH (FORCE)",
		"DROP ROLE IF EXISTS " + runnerRole,
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", runnerRole, d.password),
		"CREATE DATABASE billing OWNER " + runnerRole,
		"CREATE DATABASE crm OWNER " + runnerRole,
	} {
		if err := d.superuser(ctx, "postgres", s); err != nil {
			return err
		}
	}
	if err := d.exec(ctx, "billing", `CREATE TABLE invoices (
			id bigint PRIMARY KEY,
			customer_id text NOT NULL,
			updated_at timestamptz NOT NULL,
			status text NOT NULL,
			total numeric(12,2) NOT NULL)`,
		// One invoice every ~8.6 minutes over the last 30 days; the newest an hour ago.
		fmt.Sprintf(`INSERT INTO invoices
			SELECT i, 'cus_' || lpad((1 + i %% 40)::text, 4, '0'),
			       now() - interval '1 hour' - (%d - i) * interval '30 days' / %d,
			       (ARRAY['open','paid','paid','void'])[1 + i %% 4],
			       round((10 + (i * 7919) %% 5000 + (i %% 100) / 100.0)::numeric, 2)
			FROM generate_series(1, %d) AS i`, invoices, invoices, invoices)); err != nil {
		return err
	}
	return d.exec(ctx, "crm", `CREATE TABLE crm_invoices (
		billing_invoice_id text PRIMARY KEY,
		billing_customer_id text NOT NULL,
		status text NOT NULL,
		total numeric(12,2) NOT NULL,
		is_paid boolean,
		source_updated_at timestamptz NOT NULL,
		synced_at timestamptz,
		sync_run_id text)`)
}

// apply recreates the demo namespace with the Secrets and the SyncJob.
func (d *demo) apply(ctx context.Context) (*syncv1.SyncJob, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := d.kube.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		return nil, fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	if err := poll(ctx, 2*time.Minute, "the previous demo namespace to go", func() (bool, error) {
		err := d.kube.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		return nil, err
	}
	if err := d.kube.Create(ctx, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	for name, db := range map[string]string{"billing-db": "billing", "crm-db": "crm"} {
		dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=10",
			runnerRole, d.password, net.JoinHostPort(d.podHost, fmt.Sprint(d.port)), db)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: map[string]string{"dsn": dsn}}
		if err := d.kube.Create(ctx, s); err != nil {
			return nil, fmt.Errorf("create Secret %s: %w", name, err)
		}
	}
	sj := &syncv1.SyncJob{}
	if err := yaml.UnmarshalStrict(syncJobYAML, sj); err != nil {
		return nil, fmt.Errorf("hack/demo/syncjob.yaml: %w", err)
	}
	sj.Namespace = namespace
	if err := d.kube.Create(ctx, sj); err != nil {
		return nil, fmt.Errorf("create SyncJob %s: %w", sj.Name, err)
	}
	return sj, nil
}

// runOnce requests a run with token, waits for it, and prints the SyncJobs.
func (d *demo) runOnce(ctx context.Context, sj *syncv1.SyncJob, token string) (*syncv1.RunRecord, error) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, syncv1.RunRequestedAnnotation, token)
	if err := d.kube.Patch(ctx, sj.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return nil, fmt.Errorf("request a run: %w", err)
	}
	job := desired.RequestedJobName(sj, desired.KindRun, token)
	step("requested a run: kubectl -n %s annotate syncjob %s %s=%s  →  Job %s", namespace, sj.Name, syncv1.RunRequestedAnnotation, token, job)
	start := time.Now()
	var last *syncv1.RunRecord
	err := poll(ctx, runTimeout, "the run of Job "+job, func() (bool, error) {
		cur := &syncv1.SyncJob{}
		if err := d.kube.Get(ctx, client.ObjectKeyFromObject(sj), cur); err != nil {
			return false, err
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == syncv1.ConditionStalled && c.Status == metav1.ConditionTrue {
				return false, fmt.Errorf("SyncJob %s is stalled (%s): %s", cur.Name, c.Reason, c.Message)
			}
		}
		last = cur.Status.LastRun
		return last != nil && (last.RunID == job || strings.HasPrefix(last.RunID, job+"-")) &&
			last.Phase != "" && last.Phase != syncv1.RunPhaseRunning, nil
	})
	if err != nil {
		return nil, err
	}
	if last.Phase != syncv1.RunPhaseSucceeded {
		d.kubectlOut("-n", namespace, "describe", "syncjob", sj.Name)
		return nil, fmt.Errorf("run %s %s (%s): %s", last.RunID, last.Phase, last.Reason, last.Message)
	}
	step("run %s %s in %s: read %d, upserted %d, unchanged %d, failed %d",
		last.RunID, last.Phase, time.Since(start).Round(time.Second), last.Read, last.Upserted, last.Unchanged, last.Failed)
	d.kubectlOut("-n", namespace, "get", "syncjobs")
	return last, nil
}

// show prints the rows of a query on the CRM database.
func (d *demo) show(ctx context.Context, q string) {
	fmt.Printf("\n$ psql -h 127.0.0.1 -p %d -U postgres crm -c %q\n", d.port, q)
	cmd := exec.CommandContext(ctx, "psql", "-X", "-h", "127.0.0.1", "-p", fmt.Sprint(d.port), "-U", "postgres", "-d", "crm", "-c", q)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "psql: %v\n", err)
	}
}

func (d *demo) kubectlOut(args ...string) {
	fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.Command(d.kubectl, append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "kubectl: %v\n", err)
	}
	fmt.Println()
}

// superuser runs a statement as the superuser over loopback.
func (d *demo) superuser(ctx context.Context, db, stmt string) error {
	return d.execAs(ctx, "postgres", db, stmt)
}

// exec runs statements as the runner role (the tables' owner) over loopback.
func (d *demo) exec(ctx context.Context, db string, stmts ...string) error {
	for _, s := range stmts {
		if err := d.execAs(ctx, runnerRole, db, s); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) execAs(ctx context.Context, user, db, stmt string) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, d.port, db))
	if err != nil {
		return fmt.Errorf("connect to %s as %s: %w", db, user, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", firstLine(stmt), err)
	}
	return nil
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
