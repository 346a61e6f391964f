// Command manager runs the Checkpointed controller: it turns SyncJobs into CronJobs that
// run the runner. This file only wires flags, the manager and the reconciler.
package main

import (
	// Time-zone data in the binary: images FROM scratch have no /usr/share/zoneinfo, and
	// schedules and source columns name IANA zones.
	_ "time/tzdata"

	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/controllers"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/eventrecorder"
	"github.com/checkpointed/checkpointed/internal/imagepolicy"
	"github.com/checkpointed/checkpointed/internal/metrics"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

func main() {
	var (
		metricsAddr, probeAddr, watchNamespace, runnerImage string
		allowedRunnerImages                                 string
		watchNamespaceList                                  string
		leaderElect                                         bool
		concurrency                                         int
		qps                                                 float64
		burst                                               int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint (\"0\" disables it).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one manager reconciles at a time.")
	flag.StringVar(&watchNamespace, "watch-namespace", "", "Only watch this namespace (default: all namespaces).")
	flag.StringVar(&watchNamespaceList, "watch-namespaces", "", "Only watch these namespaces, comma-separated (default: all namespaces); leader election stays in the manager's own namespace.")
	flag.StringVar(&runnerImage, "runner-image", "checkpointed/runner:dev", "Runner image used when a SyncJob does not name one.")
	flag.StringVar(&allowedRunnerImages, "allowed-runner-images", "",
		"Comma-separated runner images a SyncJob may name in spec.runner.image: exact references, repositories (any tag or digest), or prefixes ending in \"/\" or \"*\" (default: only --runner-image).")
	// Defaults sized for 10,000 SyncJobs (make bench-controller): a new SyncJob costs about
	// 13 requests, one reconcile, each waiting on the apiserver in turn, so convergence in
	// 120 s needs ~1,000 requests/s and enough reconciles in flight to cover the round
	// trips. The apiserver's API Priority and Fairness stays the server-side limit; lower
	// these on a small or shared control plane.
	flag.IntVar(&concurrency, "concurrent-reconciles", 16, "SyncJobs reconciled in parallel.")
	flag.Float64Var(&qps, "kube-api-qps", 1000, "Client-side limit of requests per second to the apiserver (a negative value disables it).")
	flag.IntVar(&burst, "kube-api-burst", 2000, "Client-side burst of requests to the apiserver.")
	var pprofAddr string
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of the Go profiling endpoints /debug/pprof (default: off).")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")
	if percent := gcPercent(os.Getenv("GOGC")); percent > 0 {
		debug.SetGCPercent(percent)
	}
	if limit := softMemoryLimit(os.ReadFile, os.Getenv("GOMEMLIMIT")); limit > 0 {
		debug.SetMemoryLimit(limit)
		setupLog.Info("Go soft memory limit set to 90% of the container's memory limit", "bytes", limit)
	}

	allowedImages, err := imagepolicy.Parse(allowedRunnerImages)
	if err != nil {
		setupLog.Error(err, "parse --allowed-runner-images")
		os.Exit(1)
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		setupLog.Error(err, "register built-in types")
		os.Exit(1)
	}
	if err := syncv1.AddToScheme(scheme); err != nil {
		setupLog.Error(err, "register SyncJob types")
		os.Exit(1)
	}

	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "checkpointed-manager.sync.checkpointed.io",
		Cache:                  cache.Options{ByObject: controllers.CacheOptions()},
		PprofBindAddress:       pprofAddr,
	}
	if watchNamespace != "" {
		mgrOpts.Cache.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
		mgrOpts.LeaderElectionNamespace = watchNamespace
	}
	namespaces, err := parseWatchNamespaces(watchNamespace, watchNamespaceList)
	if err != nil {
		setupLog.Error(err, "invalid flags")
		os.Exit(1)
	}
	if watchNamespace == "" && len(namespaces) > 0 {
		mgrOpts.Cache.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			mgrOpts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		setupLog.Error(err, "create manager")
		os.Exit(1)
	}
	// Events are created once and not kept (eventrecorder: client-go's broadcaster keeps each
	// for 6 to 12 minutes to count repeats).
	events, err := eventrecorder.ForManager(mgr, runcontract.ControllerFieldManager, ctrl.Log.WithName("events"))
	if err != nil {
		setupLog.Error(err, "event recorder")
		os.Exit(1)
	}
	if err := (&controllers.SyncJobReconciler{
		Client:  mgr.GetClient(),
		Events:  events,
		Clock:   clock.RealClock{},
		Options: desired.Options{RunnerImage: runnerImage},
		// Allowed runner images: the flag's list, and always the default image.
		AllowedRunnerImages: allowedImages,
		APIReader:           mgr.GetAPIReader(),
	}).SetupWithManager(mgr, concurrency); err != nil {
		setupLog.Error(err, "set up SyncJob controller")
		os.Exit(1)
	}
	// Per-SyncJob series from status, read from the manager's cache at scrape time.
	lister, err := metrics.CacheLister(context.Background(), mgr.GetCache())
	if err != nil {
		setupLog.Error(err, "list SyncJobs for metrics")
		os.Exit(1)
	}
	crmetrics.Registry.MustRegister(metrics.NewCollector(lister, clock.RealClock{}, ctrl.Log.WithName("metrics")))
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "add health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "add ready check")
		os.Exit(1)
	}
	setupLog.Info("starting manager", "watchNamespaces", namespaces, "runnerImage", runnerImage, "allowedRunnerImages", allowedImages.String())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "run manager")
		os.Exit(1)
	}
}

// The container's memory limit, cgroup v2 and v1.
const (
	cgroupV2MemoryMax   = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryLimit = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// softMemoryLimit is the Go soft memory limit (runtime/debug.SetMemoryLimit) for a manager
// whose container has a memory limit: 90 % of it, so that the garbage collector collects
// harder as the cache grows towards the limit instead of the kernel killing the manager
// there (by default the heap may grow to twice what is live). 0 — leave the runtime's
// default — when gomemlimit (the GOMEMLIMIT variable, the operator's own choice) is set,
// or no limit can be read. read reads a file (os.ReadFile).
func softMemoryLimit(read func(string) ([]byte, error), gomemlimit string) int64 {
	if gomemlimit != "" {
		return 0
	}
	for _, path := range []string{cgroupV2MemoryMax, cgroupV1MemoryLimit} {
		data, err := read(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit <= 0 || limit >= 1<<60 { // "max", or cgroup v1's "unlimited"
			return 0
		}
		return limit * 9 / 10
	}
	return 0
}

// managerGCPercent is the manager's garbage-collection target (runtime/debug.SetGCPercent)
// unless GOGC is set: the heap may grow 50 % above what is live, not the runtime's 100 %.
// Most of the manager's heap is its cache, which stays live, and it allocates little
// once converged, so the extra collections cost CPU mainly while thousands of SyncJobs
// converge; at 3,000 SyncJobs the peak RSS fell from 195 to 154 MiB for about 15 % more
// manager CPU (make bench-controller).
const managerGCPercent = 50

// gcPercent is the GC percent the manager sets: managerGCPercent, or 0 — leave the
// runtime's — when gogc (the GOGC variable, the operator's own choice) is set.
func gcPercent(gogc string) int {
	if gogc != "" {
		return 0
	}
	return managerGCPercent
}

// parseWatchNamespaces returns the namespaces the manager is restricted to, from
// --watch-namespace (one) or --watch-namespaces (a comma-separated list); none means all
// namespaces. Giving both flags, an empty entry or a repeated namespace is an error.
func parseWatchNamespaces(single, list string) ([]string, error) {
	if single != "" && list != "" {
		return nil, fmt.Errorf("--watch-namespace and --watch-namespaces are exclusive: give one")
	}
	if single != "" {
		return []string{single}, nil
	}
	if list == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, ns := range strings.Split(list, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			return nil, fmt.Errorf("--watch-namespaces %q: empty namespace name", list)
		}
		if seen[ns] {
			return nil, fmt.Errorf("--watch-namespaces %q: namespace %q given twice", list, ns)
		}
		seen[ns] = true
		out = append(out, ns)
	}
	return out, nil
}
