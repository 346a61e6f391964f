// Command demo-services serves the demo billing and CRM APIs of test/demoapi, each on
// one or more addresses (loopback by default; `make demo DEMO=http` adds the pod bridge's
// gateway so that runner Pods reach them), prints their base URLs (the first address of
// each) as BILLING_URL=... and CRM_URL=... lines on stdout, and stops cleanly on SIGTERM
// or SIGINT, or when the file named by -stop-when-missing disappears (the demo's work dir,
// deleted when the local cluster goes down). Faults (rate limits, 429 quotas, injected
// 5xx, latency) are set with flags at start and can be changed at run time with
// PUT /admin/faults on either server.
//
// An API key, when the environment variable named by -api-key-env is set, is required by
// both APIs; -billing-api-key-env and -crm-api-key-env give each API its own key instead.
// Keys are never printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/checkpointed/checkpointed/test/demoapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo-services:", err)
		os.Exit(1)
	}
}

// faultFlags registers the fault flags of one server under a prefix.
func faultFlags(fs *flag.FlagSet, prefix string, f *demoapi.Faults) {
	fs.Float64Var(&f.RatePerSecond, prefix+"-rate", 0, "requests per second (token bucket); 0 = unlimited")
	fs.IntVar(&f.Burst, prefix+"-burst", 0, "token bucket size (0 = ceil(rate))")
	fs.IntVar(&f.QuotaRequests, prefix+"-quota", 0, "answer 429 after this many requests (0 = never)")
	fs.DurationVar(&f.QuotaReset, prefix+"-quota-reset", 0, "the quota renews this long after exhaustion (0 = only by POST /admin/quota/reset)")
	fs.IntVar(&f.FailEvery, prefix+"-fail-every", 0, "answer every k-th request with a 5xx (0 = never)")
	fs.Float64Var(&f.FailProbability, prefix+"-fail-probability", 0, "answer a request with a 5xx with this probability")
	fs.IntVar(&f.FailStatus, prefix+"-fail-status", 503, "status of injected failures")
	fs.BoolVar(&f.FailAfterApply, prefix+"-fail-after-apply", false, "injected failures happen after the request took effect")
	fs.DurationVar(&f.Latency, prefix+"-latency", 0, "latency added to every request")
}

// splitList reads a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// run parses args, serves both APIs until ctx ends, and shuts them down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-services", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		billingAddr   = fs.String("billing-addr", "127.0.0.1:8081", "comma-separated listen addresses of the billing API (BILLING_URL names the first)")
		crmAddr       = fs.String("crm-addr", "127.0.0.1:8082", "comma-separated listen addresses of the CRM API (CRM_URL names the first)")
		invoices      = fs.Int("invoices", 1000, "invoices to generate")
		customers     = fs.Int("customers", 0, "billing customers (0 = invoices/20)")
		ties          = fs.String("ties", "", "comma-separated sizes of groups of invoices sharing one updated_at, e.g. 300")
		spread        = fs.Duration("spread", 72*time.Hour, "generated invoices are created evenly over this interval")
		startAgo      = fs.Duration("start-ago", 0, "the first invoice is created this long ago (0 = -spread: creation times end now, and an invoice paid later can have an updated_at up to spread/10 in the future)")
		seed          = fs.Int64("seed", 1, "seed of the generated data and of fault draws")
		integerIDs    = fs.Bool("integer-ids", false, "integer invoice ids instead of inv_<n>")
		unsorted      = fs.Bool("unsorted", false, "serve invoice pages in a shuffled order")
		omit          = fs.String("omit-accounts", "", "comma-separated billing customer ids that get no CRM account")
		requireAcct   = fs.Bool("require-account", false, "the CRM rejects invoices without an account")
		apiKeyEnv     = fs.String("api-key-env", "DEMO_API_KEY", "environment variable holding the API key both APIs require (unset = no auth)")
		billingKeyEnv = fs.String("billing-api-key-env", "", "environment variable holding the billing API's key (overrides -api-key-env for it)")
		crmKeyEnv     = fs.String("crm-api-key-env", "", "environment variable holding the CRM API's key (overrides -api-key-env for it)")
		stopWhenGone  = fs.String("stop-when-missing", "", "stop when this path no longer exists (checked every -watch-every)")
		watchEvery    = fs.Duration("watch-every", 2*time.Second, "how often -stop-when-missing is checked")
		pidFile       = fs.String("pid-file", "", "write the process id here once both APIs listen")
		verbosity     = fs.Int("v", 0, "log verbosity (1 logs every throttled or failed request)")
		billingFault  demoapi.Faults
		crmFault      demoapi.Faults
	)
	faultFlags(fs, "billing", &billingFault)
	faultFlags(fs, "crm", &crmFault)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tieSizes []int
	for _, s := range splitList(*ties) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-ties: %q is not a positive integer", s)
		}
		tieSizes = append(tieSizes, n)
	}
	if *watchEvery <= 0 {
		return fmt.Errorf("-watch-every must be positive")
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(stderr, prefix, args) }, funcr.Options{Verbosity: *verbosity})
	billingKey, crmKey := os.Getenv(*apiKeyEnv), os.Getenv(*apiKeyEnv)
	if *billingKeyEnv != "" {
		billingKey = os.Getenv(*billingKeyEnv)
	}
	if *crmKeyEnv != "" {
		crmKey = os.Getenv(*crmKeyEnv)
	}
	var start time.Time
	if *startAgo > 0 {
		start = time.Now().Add(-*startAgo).Truncate(time.Second)
	}

	ids := demoapi.StringIDs
	if *integerIDs {
		ids = demoapi.IntegerIDs
	}
	billing := demoapi.NewBilling(demoapi.BillingOptions{
		IDs: ids, Unsorted: *unsorted, Seed: *seed, Faults: billingFault, APIKey: billingKey, Log: log.WithName("billing"),
		Data: demoapi.BillingData{Invoices: *invoices, Customers: *customers, Start: start, Spread: *spread, Ties: tieSizes},
	})
	crm := demoapi.NewCRM(demoapi.CRMOptions{
		Customers: billing.CustomerIDs(), OmitAccounts: splitList(*omit), RequireAccount: *requireAcct,
		Seed: *seed, Faults: crmFault, APIKey: crmKey, Log: log.WithName("crm"),
	})

	billingLns, err := listen("billing API", *billingAddr)
	if err != nil {
		return err
	}
	crmLns, err := listen("CRM API", *crmAddr)
	if err != nil {
		closeAll(billingLns)
		return err
	}
	var servers []*http.Server
	errs := make(chan error, len(billingLns)+len(crmLns))
	for _, api := range []struct {
		h   http.Handler
		lns []net.Listener
	}{{billing, billingLns}, {crm, crmLns}} {
		for _, ln := range api.lns {
			srv := &http.Server{Handler: api.h, ReadHeaderTimeout: 10 * time.Second}
			servers = append(servers, srv)
			go func() { errs <- srv.Serve(ln) }()
		}
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
			closeAll(billingLns)
			closeAll(crmLns)
			return fmt.Errorf("write -pid-file: %w", err)
		}
	}
	fmt.Fprintf(stdout, "BILLING_URL=http://%s\nCRM_URL=http://%s\n", billingLns[0].Addr(), crmLns[0].Addr())
	log.Info("serving", "billing", addrs(billingLns), "crm", addrs(crmLns), "invoices", billing.Count(),
		"customers", len(billing.CustomerIDs()), "accounts", len(crm.Accounts()),
		"billingAuth", billingKey != "", "crmAuth", crmKey != "")

	gone := make(chan struct{})
	if *stopWhenGone != "" {
		go watchPath(ctx, *stopWhenGone, *watchEvery, gone)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case <-gone:
		log.Info("stopping: the watched path is gone", "path", *stopWhenGone)
	case serveErr = <-errs:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			serveErr = errors.Join(serveErr, fmt.Errorf("shut down: %w", err))
		}
	}
	logStats(log, "billing", billing.Stats())
	logStats(log, "crm", crm.Stats())
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// listen opens a listener on each comma-separated address of list.
func listen(what, list string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, addr := range splitList(list) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("listen for the %s on %s: %w", what, addr, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("no listen address for the %s", what)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func addrs(lns []net.Listener) []string {
	out := make([]string, len(lns))
	for i, ln := range lns {
		out[i] = ln.Addr().String()
	}
	return out
}

// watchPath closes gone once path no longer exists (checked every interval), so that the
// services do not outlive the demo whose work dir holds path; it returns when ctx ends.
func watchPath(ctx context.Context, path string, every time.Duration, gone chan<- struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			close(gone)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func logStats(log logr.Logger, name string, s demoapi.Stats) {
	log.Info("stopped", "server", name, "requests", s.Requests, "rateLimited", s.RateLimited,
		"injected", s.Injected, "records", s.Records)
}
