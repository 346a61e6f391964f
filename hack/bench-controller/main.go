// Command bench-controller measures the controller at scale on an envtest control plane
// (a real kube-apiserver and etcd): for each size given with -n (default 1,000 and
// 10,000) it starts a fresh control plane, creates that many SyncJobs, starts the manager
// binary as its own process (-live: the other way round) and prints the seconds from the
// manager's start until every one has its CronJob and Ready=True, reconciles per SyncJob,
// the manager's peak RSS and CPU time (and the control plane's and its own), its API
// requests per SyncJob by verb and resource, and its requests during an idle window after
// convergence, each against the targets of issue 12 (10,000 SyncJobs converge in 120 s on
// 2 cores, at most 3 reconciles per SyncJob, peak RSS at most 300 MiB, no writes while
// idle). After each size it times the floor (floor.go): the same requests per SyncJob sent
// by a bare client on a fresh control plane, the convergence's same-run baseline, which
// says how much of the convergence time is the control plane's; and the least floor, the
// CronJob's apply and the status apply alone. The manager talks to the apiserver
// directly, as the manager user; its requests are counted from the apiserver's own metrics (apiserver_request_total by verb and
// resource) between snapshots taken while no other client sends any: the benchmark's own
// creates come before the first, and its convergence watches, which the apiserver counts
// when they end, stay open. (A counting proxy in this process, used before, took a tenth
// of the 2 cores re-encrypting every request and watch event.) It is a benchmark, not a
// test: it prints figures and exits 0 unless something broke.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// Targets of issue 12 for 10,000 SyncJobs on 2 cores.
const (
	targetN           = 10000
	targetConvergence = 120 * time.Second
	targetReconciles  = 3.0
	targetRSSMiB      = 300
)

func main() {
	sizes := flag.String("n", "1000,10000", "comma-separated numbers of SyncJobs, one fresh control plane and manager each")
	idle := flag.Duration("idle", 30*time.Second, "idle window after convergence")
	limit := flag.Duration("limit", 10*time.Minute, "give up waiting for convergence after this long")
	managerArgs := flag.String("manager-args", "", "extra manager flags, space-separated (default: the manager's own defaults)")
	flag.BoolVar(&opt.live, "live", false, "create the SyncJobs while the manager runs (default: create them all, then start the manager, so that the benchmark's own creates do not share the apiserver with the manager's requests)")
	flag.StringVar(&opt.profileDir, "profile", "", "write CPU profiles of the manager and the kube-apiserver, taken during convergence, to this directory")
	flag.DurationVar(&opt.profileFor, "profile-for", 20*time.Second, "length of the CPU profiles")
	flag.BoolVar(&opt.floor, "floor", true, "after each size, time the floor: the manager's requests for every SyncJob sent by a bare client, as many in parallel as the manager's workers, on a fresh control plane (the convergence's same-run baseline)")
	flag.StringVar(&opt.memoryLimit, "memory-limit", "", "run the manager as under a container memory limit of this size (e.g. 1Gi): GOMEMLIMIT at 90 % of it, as the manager sets itself in a container (default: no limit)")
	flag.Parse()
	crlog.SetLogger(logr.Discard())
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench-controller: -n %q: %q is not a positive number\n", *sizes, s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	manager, cleanup, err := buildManager()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-controller:", err)
		os.Exit(1)
	}
	defer cleanup()
	var results []result
	for _, n := range ns {
		if strings.Contains(*managerArgs, "leader-elect") {
			fmt.Fprintln(os.Stderr, "bench-controller: the manager's Lease updates (leader election) are not counted: the apiserver's own look the same")
		}
		res, err := run(manager, n, *idle, *limit, strings.Fields(*managerArgs))
		if err == nil && res.templates != nil { // -floor, and the manager converged
			if res.floor, err = measureFloor(n, res.templates, false); err == nil {
				res.least, err = measureFloor(n, res.templates, true)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-controller: %d SyncJobs: %v\n", n, err)
			cleanup()
			os.Exit(1)
		}
		res.print(*idle)
		results = append(results, res)
	}
	if len(results) > 1 {
		printGrowth(results)
	}
}

// options are the benchmark's flags that shape one run.
type options struct {
	live       bool
	profileDir string
	profileFor time.Duration
	// memoryLimit emulates the manager container's memory limit ("" for none).
	memoryLimit string
	// floor times the floor after each size (floor.go).
	floor bool
}

var opt options

// result is one size's figures.
type result struct {
	n                  int
	loadBefore         string
	loadAfter          string
	created            time.Duration
	convergence        time.Duration
	converged          bool
	readyAtLimit       int
	reconciles         float64
	peakRSSKiB         int64
	cpuConverge        time.Duration
	cpuControlPlane    time.Duration
	cpuBench           time.Duration
	untilIdle, inIdle  counts
	reconcilesIdle     float64
	managerArgs        []string
	startupReconciles  float64
	startupConvergence time.Duration
	restart            counts
	restartPeakRSSKiB  int64
	// templates are the first SyncJob's status and Event, for the floor.
	templates *templates
	// floor is the convergence's same-run baseline, least the CronJob's and status's
	// requests alone (zero when not measured).
	floor, least floorResult
}

func buildManager() (string, func(), error) {
	dir, err := os.MkdirTemp("", "bench-controller-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	manager := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", manager, ".")
	build.Dir = kubetest.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("build manager: %w", err)
	}
	return manager, cleanup, nil
}

func run(manager string, n int, idle, limit time.Duration, extraArgs []string) (result, error) {
	res := result{n: n, loadBefore: loadAvg(), managerArgs: extraArgs}
	dir, err := os.MkdirTemp("", "bench-controller-run-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	env, user, err := controlPlane()
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	api, err := newAPICounter(env.Config)
	if err != nil {
		return res, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return res, err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return res, err
	}

	c, err := client.New(env.Config, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		return res, err
	}
	watch, err := startWatch(ctx, env.Config, n)
	if err != nil {
		return res, err
	}

	metricsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	if opt.profileDir != "" {
		extraArgs = append([]string{"--pprof-bind-address=" + pprofAddr}, extraArgs...)
	}
	if !opt.live {
		// All SyncJobs exist before the manager starts: convergence is the manager's work
		// alone, timed from its start.
		created := time.Now()
		if err := createAll(ctx, c, n); err != nil {
			return res, err
		}
		res.created = time.Since(created)
	}
	requestsBefore := api.snapshot(ctx) // the benchmark's creates and its watches' lists
	cpStart, selfStart := controlPlaneCPU(), selfCPU()
	start := time.Now()
	mgr, err := startManager(manager, kcPath, metricsAddr, extraArgs)
	if err != nil {
		return res, err
	}
	defer mgr.stop()
	if opt.profileDir != "" {
		go profile(opt.profileDir, n, pprofAddr, env.Config, opt.profileFor)
	}
	if opt.live {
		if err := createAll(ctx, c, n); err != nil {
			return res, err
		}
		res.created = time.Since(start)
	}
	at, ok := watch.wait(start.Add(limit))
	res.cpuControlPlane, res.cpuBench = controlPlaneCPU()-cpStart, selfCPU()-selfStart
	res.converged = ok
	res.convergence = at.Sub(start)
	if !ok {
		res.readyAtLimit = watch.ready()
		res.loadAfter = loadAvg()
		res.peakRSSKiB = mgr.peak()
		res.untilIdle = api.snapshot(ctx).minus(requestsBefore).mine(n)
		return res, nil
	}
	res.cpuConverge = mgr.cpu()
	if opt.profileDir != "" {
		heapProfile(opt.profileDir, n, pprofAddr)
	}

	// Let the queue drain (no reconcile for 3 s), then measure the idle window.
	if err := drained(metricsAddr); err != nil {
		return res, err
	}
	before, err := scrape(metricsAddr)
	if err != nil {
		return res, err
	}
	res.reconciles = before.reconciles
	atIdle := api.snapshot(ctx)
	res.untilIdle = atIdle.minus(requestsBefore).mine(n)
	time.Sleep(idle)
	after, err := scrape(metricsAddr)
	if err != nil {
		return res, err
	}
	res.inIdle = api.snapshot(ctx).minus(atIdle)
	res.reconcilesIdle = after.reconciles - before.reconciles

	// A manager restart: every SyncJob is reconciled once more and should find nothing to do.
	res.peakRSSKiB = mgr.peak()
	mgr.stop()
	restartAt := api.snapshot(ctx)
	mgr, err = startManager(manager, kcPath, metricsAddr, extraArgs)
	if err != nil {
		return res, err
	}
	defer mgr.stop()
	restart := time.Now()
	if err := waitFor(limit, func() bool { m, err := scrape(metricsAddr); return err == nil && m.reconciles >= float64(n) }); err != nil {
		return res, fmt.Errorf("after a restart the manager did not reconcile every SyncJob: %w", err)
	}
	if err := drained(metricsAddr); err != nil {
		return res, err
	}
	res.startupConvergence = time.Since(restart)
	m, err := scrape(metricsAddr)
	if err != nil {
		return res, err
	}
	res.startupReconciles = m.reconciles
	res.restart = api.snapshot(ctx).minus(restartAt)
	res.restartPeakRSSKiB = mgr.peak()
	res.loadAfter = loadAvg()
	if opt.floor { // after the last snapshot: these reads are the benchmark's
		if res.templates, err = capture(ctx, c); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r result) print(idle time.Duration) {
	n := float64(r.n)
	cores := numCPU()
	fmt.Printf("\ncontroller benchmark: %d SyncJobs on envtest (kube-apiserver + etcd v1.37.2), %d cores\n", r.n, cores)
	if opt.memoryLimit != "" {
		fmt.Printf("  manager as under a memory limit of %s (GOMEMLIMIT at 90 %%)\n", opt.memoryLimit)
	}
	if len(r.managerArgs) > 0 {
		fmt.Printf("  manager flags: %s\n", strings.Join(r.managerArgs, " "))
	}
	fmt.Printf("  load average before: %s   after: %s\n", r.loadBefore, r.loadAfter)
	if opt.live {
		fmt.Printf("  create calls took             %7.1f s (while the manager ran; convergence counts from the manager's start)\n", r.created.Seconds())
	} else {
		fmt.Printf("  create calls took             %7.1f s (before the manager started; convergence counts from its start)\n", r.created.Seconds())
	}
	target := time.Duration(float64(targetConvergence) * n / targetN)
	scaled := ""
	if r.n != targetN {
		scaled = fmt.Sprintf(" (%d s at 10,000, scaled)", int(targetConvergence.Seconds()))
	}
	if !r.converged {
		fmt.Printf("  converged (CronJob + Ready)   NO: %d of %d after %.0f s   target <= %.0f s%s   MISSED\n",
			r.readyAtLimit, r.n, r.convergence.Seconds(), target.Seconds(), scaled)
		fmt.Printf("  manager peak RSS              %7.1f MiB\n", float64(r.peakRSSKiB)/1024)
		fmt.Printf("  kube-apiserver + etcd CPU     %7.1f s\n", r.cpuControlPlane.Seconds())
		fmt.Printf("  requests until the limit: %s\n", r.untilIdle.top(12, r.n))
		return
	}
	fmt.Printf("  converged (CronJob + Ready)   %7.1f s    target <= %.0f s%s   %s\n",
		r.convergence.Seconds(), target.Seconds(), scaled, verdict(r.convergence <= target))
	if f := r.floor; f.wall > 0 {
		fmt.Printf("  floor: the same requests      %7.1f s    the manager took %.2fx the floor; %d requests per SyncJob sent by a bare client, %d in parallel, on a fresh control plane (kube-apiserver + etcd: %.1f s; the client: %.1f s)%s\n",
			f.wall.Seconds(), r.convergence.Seconds()/f.wall.Seconds(), f.requests, floorWorkers, f.cpuControlPlane.Seconds(), f.cpuClient.Seconds(), floorNote(f.wall > target))
	}
	if f := r.least; f.wall > 0 {
		fmt.Printf("  least floor, 2 requests       %7.1f s    %d requests per SyncJob, the CronJob's apply and the status apply: the least a CronJob per SyncJob needs (kube-apiserver + etcd: %.1f s; the client: %.1f s)%s\n",
			f.wall.Seconds(), f.requests, f.cpuControlPlane.Seconds(), f.cpuClient.Seconds(), leastNote(f.wall > target))
	}
	fmt.Printf("  reconciles per SyncJob        %7.2f      target <= %.0f   %s\n", r.reconciles/n, targetReconciles, verdict(r.reconciles/n <= targetReconciles))
	fmt.Printf("  manager peak RSS              %7.1f MiB  target <= %d MiB   %s\n", float64(r.peakRSSKiB)/1024, targetRSSMiB, verdict(r.peakRSSKiB <= targetRSSMiB*1024))
	creates := ""
	if opt.live {
		creates = ", the SyncJobs' creation included"
	}
	fmt.Printf("  manager CPU until converged   %7.1f s    (kube-apiserver + etcd: %.1f s; this benchmark's watches: %.1f s%s)\n",
		r.cpuConverge.Seconds(), r.cpuControlPlane.Seconds(), r.cpuBench.Seconds(), creates)
	fmt.Printf("  API requests per SyncJob      %7.2f      (writes %.2f)\n", float64(r.untilIdle.total())/n, float64(r.untilIdle.writes())/n)
	fmt.Printf("    by verb and resource: %s\n", r.untilIdle.top(20, r.n))
	fmt.Printf("  writes in %2.0f s idle window    %7d      target 0   %s\n", idle.Seconds(), r.inIdle.writes(), verdict(r.inIdle.writes() == 0))
	fmt.Printf("  requests in the idle window   %7d      (reconciles %.0f; %s)\n", r.inIdle.total()-r.inIdle.watches(), r.reconcilesIdle, r.inIdle.top(6, 1))
	fmt.Printf("  manager restart: queue drained after %.1f s; per SyncJob %.2f reconciles, %.2f writes, %.2f requests; peak RSS %.1f MiB\n",
		r.startupConvergence.Seconds(), r.startupReconciles/n, float64(r.restart.writes())/n, float64(r.restart.total())/n, float64(r.restartPeakRSSKiB)/1024)
	fmt.Printf("    by verb and resource: %s\n", r.restart.top(10, r.n))
}

// printGrowth compares per-SyncJob figures across sizes: a figure that grows with n grows
// faster than linearly in total.
func printGrowth(rs []result) {
	fmt.Printf("\ngrowth (per SyncJob, by size):\n")
	fmt.Printf("  %-8s %12s %12s %12s %14s %12s\n", "n", "conv ms", "reconciles", "requests", "RSS KiB", "CPU ms")
	for _, r := range rs {
		n := float64(r.n)
		if !r.converged {
			fmt.Printf("  %-8d did not converge (%d ready after %.0f s)\n", r.n, r.readyAtLimit, r.convergence.Seconds())
			continue
		}
		fmt.Printf("  %-8d %12.2f %12.2f %12.2f %14.1f %12.2f\n", r.n, float64(r.convergence.Milliseconds())/n,
			r.reconciles/n, float64(r.untilIdle.total())/n, float64(r.peakRSSKiB)/n, float64(r.cpuConverge.Milliseconds())/n)
	}
}

// floorNote says what a floor above the convergence target means.
func floorNote(above bool) string {
	if above {
		return "; the floor alone is above the target: it needs fewer requests per SyncJob"
	}
	return ""
}

// leastNote says what a least floor above the convergence target means.
func leastNote(above bool) string {
	if above {
		return "; above the target: no controller that gives each SyncJob a CronJob and a status meets it on this machine"
	}
	return ""
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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

// managerProc is the manager process.
type managerProc struct {
	cmd  *exec.Cmd
	peak func() int64
	once sync.Once
}

func startManager(manager, kcPath, metricsAddr string, extra []string) (*managerProc, error) {
	args := append([]string{"--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=0",
		"--runner-image=checkpointed/runner:bench", "--zap-log-level=error"}, extra...)
	cmd := exec.Command(manager, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
	if opt.memoryLimit != "" {
		q, err := resource.ParseQuantity(opt.memoryLimit)
		if err != nil {
			return nil, fmt.Errorf("-memory-limit %q: %w", opt.memoryLimit, err)
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMEMLIMIT=%d", q.Value()*9/10))
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m := &managerProc{cmd: cmd, peak: watchPeakRSS(cmd.Process.Pid)}
	// Wait for the manager to serve metrics (it is up and watching).
	if err := waitFor(30*time.Second, func() bool { _, err := scrape(metricsAddr); return err == nil }); err != nil {
		m.stop()
		return nil, fmt.Errorf("manager metrics never came up: %w", err)
	}
	return m, nil
}

func (m *managerProc) stop() {
	m.once.Do(func() { _ = m.cmd.Process.Signal(syscall.SIGTERM); _ = m.cmd.Wait() })
}

// cpu is the manager's user + system CPU time so far.
func (m *managerProc) cpu() time.Duration {
	cpu, _, _ := procStat(m.cmd.Process.Pid)
	return cpu
}

// procStat reads a process's user + system CPU time, its parent's pid and its command
// name from /proc.
func procStat(pid int) (cpu time.Duration, ppid int, comm string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, ""
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, 0, ""
	}
	comm = s[open+1 : end]
	f := strings.Fields(s[end+2:])
	if len(f) < 13 {
		return 0, 0, comm
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, ppid, comm // USER_HZ
}

// heapProfile writes the manager's heap profile (its --pprof-bind-address) once every
// SyncJob converged: what the cache holds at full size.
func heapProfile(dir string, n int, pprofAddr string) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-controller: heap profile: %v\n", err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(dir, fmt.Sprintf("manager-heap-%d.pprof", n))
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-controller: heap profile: %v\n", err)
		return
	}
	defer f.Close()
	if _, err := f.ReadFrom(resp.Body); err != nil {
		fmt.Fprintf(os.Stderr, "bench-controller: heap profile: %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "bench-controller: wrote %s\n", path)
}

// selfCPU is this process's CPU time so far (the convergence watches).
func selfCPU() time.Duration {
	cpu, _, _ := procStat(os.Getpid())
	return cpu
}

// controlPlaneCPU is the CPU time so far of this process's kube-apiserver and etcd (the
// envtest control plane it started).
func controlPlaneCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cpu, ppid, comm := procStat(pid)
		if ppid == os.Getpid() && (comm == "kube-apiserver" || comm == "etcd") {
			total += cpu
		}
	}
	return total
}

// profile writes CPU profiles of the manager (its --pprof-bind-address) and the
// kube-apiserver (its /debug/pprof, as the admin user), taken at the same time from 2 s
// after the manager's start.
func profile(dir string, n int, pprofAddr string, admin *rest.Config, d time.Duration) {
	time.Sleep(2 * time.Second)
	secs := strconv.Itoa(int(d.Seconds()))
	var wg sync.WaitGroup
	get := func(name string, client *http.Client, url string) {
		defer wg.Done()
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-controller: %s profile: %v\n", name, err)
			return
		}
		defer resp.Body.Close()
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, n))
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-controller: %s profile: %v\n", name, err)
			return
		}
		defer f.Close()
		if _, err := f.ReadFrom(resp.Body); err != nil {
			fmt.Fprintf(os.Stderr, "bench-controller: %s profile: %v\n", name, err)
			return
		}
		fmt.Fprintf(os.Stderr, "bench-controller: wrote %s (HTTP %d)\n", path, resp.StatusCode)
	}
	apiClient, err := rest.HTTPClientFor(admin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-controller: apiserver profile: %v\n", err)
		return
	}
	wg.Add(2)
	go get("manager", http.DefaultClient, "http://"+pprofAddr+"/debug/pprof/profile?seconds="+secs)
	go get("kube-apiserver", apiClient, strings.TrimSuffix(admin.Host, "/")+"/debug/pprof/profile?seconds="+secs)
	wg.Wait()
}

// createAll creates n SyncJobs, floorWorkers at a time.
func createAll(ctx context.Context, c client.Client, n int) error {
	return inParallel(ctx, n, func(ctx context.Context, i int) error { return c.Create(ctx, syncJob(i)) })
}

func syncJob(i int) *syncv1.SyncJob {
	return &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("sync-%05d", i)},
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

// convergence follows the SyncJobs and CronJobs of the bench namespace through informers
// (no polling lists of 10,000 objects) and notes when all n SyncJobs are Ready at their
// generation and all n CronJobs exist.
type convergence struct {
	n          int
	mu         sync.Mutex
	readyNames map[string]bool
	crons      map[string]bool
	at         time.Time
	done       chan struct{}
}

func startWatch(ctx context.Context, cfg *rest.Config, n int) (*convergence, error) {
	ch, err := cache.New(cfg, cache.Options{Scheme: kubetest.Scheme(), DefaultNamespaces: map[string]cache.Config{"bench": {}}})
	if err != nil {
		return nil, err
	}
	w := &convergence{n: n, readyNames: map[string]bool{}, crons: map[string]bool{}, done: make(chan struct{})}
	sjs, err := ch.GetInformer(ctx, &syncv1.SyncJob{})
	if err != nil {
		return nil, err
	}
	cjs, err := ch.GetInformer(ctx, &batchv1.CronJob{})
	if err != nil {
		return nil, err
	}
	onSyncJob := func(obj any) {
		sj, ok := obj.(*syncv1.SyncJob)
		if !ok {
			return
		}
		w.set(w.readyNames, sj.Name, meta.IsStatusConditionTrue(sj.Status.Conditions, syncv1.ConditionReady) && sj.Status.ObservedGeneration == sj.Generation)
	}
	onCronJob := func(obj any) {
		if cj, ok := obj.(*batchv1.CronJob); ok {
			w.set(w.crons, cj.Name, true)
		}
	}
	if _, err := sjs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onSyncJob, UpdateFunc: func(_, o any) { onSyncJob(o) }}); err != nil {
		return nil, err
	}
	if _, err := cjs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onCronJob}); err != nil {
		return nil, err
	}
	go func() { _ = ch.Start(ctx) }()
	if !ch.WaitForCacheSync(ctx) {
		return nil, errors.New("the benchmark's own informers did not sync")
	}
	return w, nil
}

func (w *convergence) set(m map[string]bool, name string, v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v {
		m[name] = true
	} else {
		delete(m, name)
	}
	if w.at.IsZero() && len(w.readyNames) == w.n && len(w.crons) == w.n {
		w.at = time.Now()
		close(w.done)
	}
}

func (w *convergence) ready() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.readyNames)
}

// wait returns when all SyncJobs converged, or at the deadline (false).
func (w *convergence) wait(deadline time.Time) (time.Time, bool) {
	select {
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.at, true
	case <-time.After(time.Until(deadline)):
		return time.Now(), false
	}
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

// drained waits until the manager has made no reconcile for 3 s and its queue is empty.
func drained(addr string) error {
	last, since := -1.0, time.Now()
	return waitFor(5*time.Minute, func() bool {
		m, err := scrape(addr)
		if err != nil {
			return false
		}
		if m.reconciles != last || m.depth > 0 {
			last, since = m.reconciles, time.Now()
			return false
		}
		return time.Since(since) >= 3*time.Second
	})
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

type metrics struct{ reconciles, depth float64 }

// scrape reads the manager's reconcile count and its queue depth.
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
		case strings.HasPrefix(line, "workqueue_depth{") && strings.Contains(line, `name="syncjob"`):
			m.depth += val()
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

// counts are API requests by "verb resource".
type counts map[string]int64

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "apply": true, "delete": true, "deletecollection": true}

func (c counts) total() int64 {
	var t int64
	for _, v := range c {
		t += v
	}
	return t
}

func (c counts) writes() int64 {
	var t int64
	for k, v := range c {
		if writeVerbs[strings.Fields(k)[0]] {
			t += v
		}
	}
	return t
}

func (c counts) watches() int64 {
	var t int64
	for k, v := range c {
		if strings.HasPrefix(k, "watch ") {
			t += v
		}
	}
	return t
}

func (c counts) minus(o counts) counts {
	out := counts{}
	for k, v := range c {
		if d := v - o[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// top renders the largest counts, per SyncJob when n > 1.
func (c counts) top(k, n int) string {
	keys := make([]string, 0, len(c))
	for key := range c {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for i, key := range keys {
		if i == k {
			parts = append(parts, "...")
			break
		}
		if n > 1 {
			parts = append(parts, fmt.Sprintf("%s %.2f", key, float64(c[key])/float64(n)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", key, c[key]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// apiCounter reads the apiserver's request counts (apiserver_request_total, cumulative
// since its start, for every client) as the admin user.
type apiCounter struct{ rc rest.Interface }

func newAPICounter(admin *rest.Config) (*apiCounter, error) {
	cfg := rest.CopyConfig(admin)
	cfg.GroupVersion = &schema.GroupVersion{}
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &apiCounter{rc: rc}, nil
}

// snapshot returns the requests so far by "verb resource[/subresource]" (verbs in lower
// case: get, list, watch, create, update, patch, apply, delete, deletecollection). Left
// out: requests for no resource (discovery, /metrics, /debug/pprof) and the apiserver's
// own (controlPlaneOwn). It panics if the apiserver cannot be read: the figures would be
// wrong.
func (a *apiCounter) snapshot(ctx context.Context) counts {
	body, err := a.rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		panic(fmt.Sprintf("read the apiserver's metrics: %v", err))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		panic(fmt.Sprintf("parse the apiserver's metrics: %v", err))
	}
	out := counts{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["resource"] == "" {
			continue
		}
		res := labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			res += "/" + sub
		}
		verb := strings.ToLower(labels["verb"])
		switch verb { // the apiserver names creates and updates by their HTTP methods
		case "post":
			verb = "create"
		case "put":
			verb = "update"
		}
		if key := verb + " " + res; !controlPlaneOwn[key] {
			out[key] += int64(m.GetCounter().GetValue())
		}
	}
	return out
}

// controlPlaneOwn are the requests the kube-apiserver sends to itself, about every 10 s
// (its endpoint reconciler and its identity lease), which snapshot leaves out: the manager
// sends none of them (it reads no endpoints and, without --leader-elect, writes no Lease).
var controlPlaneOwn = map[string]bool{"get endpoints": true, "get endpointslices": true, "update leases": true}

// mine leaves out of c what the benchmark itself sent while the manager ran: with -live,
// its n creates of SyncJobs.
func (c counts) mine(n int) counts {
	if opt.live {
		c["create syncjobs"] -= int64(n)
		if c["create syncjobs"] == 0 {
			delete(c, "create syncjobs")
		}
	}
	return c
}
