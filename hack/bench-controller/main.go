// Command bench-controller measures the controller at scale on an envtest control plane
// (a real kube-apiserver and etcd): it starts the manager binary as its own process,
// creates 1,000 SyncJobs and prints the seconds until every one has its CronJob and
// Ready=True, reconciles per SyncJob, the manager's peak RSS and its writes during a
// 30-second idle window after convergence, each against its target. It is a benchmark,
// not a test: it prints figures and exits 0 unless something broke.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

func main() {
	n := flag.Int("n", 1000, "SyncJobs to create")
	idle := flag.Duration("idle", 30*time.Second, "idle window after convergence")
	flag.Parse()
	if err := run(*n, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench-controller:", err)
		os.Exit(1)
	}
}

func run(n int, idle time.Duration) error {
	dir, err := os.MkdirTemp("", "bench-controller-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	manager := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", manager, ".")
	build.Dir = kubetest.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build manager: %w", err)
	}

	env, err := kubetest.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(manager, "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address=0",
		"--runner-image=checkpointed/runner:bench", "--zap-log-level=error")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	peak := watchPeakRSS(cmd.Process.Pid)

	c, err := client.New(env.Config, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	// Wait for the manager to serve metrics (it is up and watching).
	if err := waitFor(30*time.Second, func() bool { _, err := scrape(metricsAddr); return err == nil }); err != nil {
		return fmt.Errorf("manager metrics never came up: %w", err)
	}

	start := time.Now()
	if err := createAll(ctx, c, n); err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitFor(10*time.Minute, func() bool { return converged(ctx, c, n) }); err != nil {
		return fmt.Errorf("no convergence: %w", err)
	}
	convergence := time.Since(start)

	// Let the queue drain, then measure the idle window.
	time.Sleep(2 * time.Second)
	before, err := scrape(metricsAddr)
	if err != nil {
		return err
	}
	time.Sleep(idle)
	after, err := scrape(metricsAddr)
	if err != nil {
		return err
	}
	reconciles := before.reconciles
	idleWrites := after.writes - before.writes

	fmt.Printf("controller benchmark: %d SyncJobs on envtest (kube-apiserver + etcd v1.37.2), %d cores\n", n, numCPU())
	fmt.Printf("  create calls took           %6.1f s\n", created.Seconds())
	fmt.Printf("  converged (CronJob + Ready) %6.1f s    target <= 60 s      %s\n", convergence.Seconds(), verdict(convergence.Seconds() <= 60))
	fmt.Printf("  reconciles per SyncJob      %6.2f      target <= 3         %s\n", reconciles/float64(n), verdict(reconciles/float64(n) <= 3))
	fmt.Printf("  manager peak RSS            %6.1f MiB  target <= 150 MiB   %s\n", float64(peak())/1024, verdict(peak() <= 150*1024))
	fmt.Printf("  writes in %2.0f s idle window  %6.0f      target 0            %s\n", idle.Seconds(), idleWrites, verdict(idleWrites == 0))
	fmt.Printf("  (manager writes until convergence: %.0f, %.2f per SyncJob)\n", before.writes, before.writes/float64(n))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func numCPU() int {
	n := 0
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "processor") {
			n++
		}
	}
	return n
}

// createAll creates n SyncJobs with 16 writers in parallel.
func createAll(ctx context.Context, c client.Client, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := c.Create(ctx, syncJob(i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func syncJob(i int) *syncv1.SyncJob {
	return &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("sync-%04d", i)},
		Spec: syncv1.SyncJobSpec{
			Schedule: fmt.Sprintf("%d 2 * * *", i%60),
			TimeZone: ptr.To("Europe/Berlin"),
			Source: syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{
				DSN: syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}, Table: "invoices"}},
			Sink: syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{
				DSN: syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}, Table: "crm_invoices"}},
			Key:     syncv1.KeySpec{Field: "billing_invoice_id"},
			Mapping: []syncv1.FieldMapping{{To: "status", From: "status"}},
		},
	}
}

// converged reports whether all n SyncJobs are Ready and have their CronJob.
func converged(ctx context.Context, c client.Client, n int) bool {
	sjs := &syncv1.SyncJobList{}
	if err := c.List(ctx, sjs, client.InNamespace("bench")); err != nil {
		return false
	}
	ready := 0
	for _, sj := range sjs.Items {
		if meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady) && sj.Status.ObservedGeneration == sj.Generation {
			ready++
		}
	}
	cjs := &batchv1.CronJobList{}
	if err := c.List(ctx, cjs, client.InNamespace("bench")); err != nil {
		return false
	}
	return ready == n && len(cjs.Items) == n
}

func waitFor(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("gave up after %s", limit)
}

// watchPeakRSS samples the process's peak resident set (VmHWM, in KiB) until the process
// ends; the returned function gives the highest value seen.
func watchPeakRSS(pid int) func() int64 {
	var mu sync.Mutex
	var peak int64
	go func() {
		for {
			v, err := vmHWM(pid)
			if err != nil {
				return
			}
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return func() int64 {
		if v, err := vmHWM(pid); err == nil {
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
		}
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func vmHWM(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

type metrics struct{ reconciles, writes float64 }

// scrape reads the manager's reconcile count and its write requests to the apiserver.
func scrape(addr string) (metrics, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return metrics{}, err
	}
	defer resp.Body.Close()
	var m metrics
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		val := func() float64 {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
		switch {
		case strings.HasPrefix(line, "controller_runtime_reconcile_total{") && strings.Contains(line, `controller="syncjob"`):
			m.reconciles += val()
		case strings.HasPrefix(line, "rest_client_requests_total{"):
			for _, verb := range []string{`method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`} {
				if strings.Contains(line, verb) {
					m.writes += val()
				}
			}
		}
	}
	return m, s.Err()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
