// Command demo-services serves the demo billing and CRM APIs of internal/demoapi on two
// loopback addresses, prints their base URLs as BILLING_URL=... and CRM_URL=... lines on
// stdout, and stops cleanly on SIGTERM or SIGINT. Faults (rate limits, 429 quotas,
// injected 5xx, latency) are set with flags at start and can be changed at run time with
// PUT /admin/faults on either server.
//
// An API key, when the environment variable named by -api-key-env is set, is required by
// both APIs; it is never printed.
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

	"github.com/checkpointed/checkpointed/internal/demoapi"
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
		billingAddr  = fs.String("billing-addr", "127.0.0.1:8081", "listen address of the billing API")
		crmAddr      = fs.String("crm-addr", "127.0.0.1:8082", "listen address of the CRM API")
		invoices     = fs.Int("invoices", 1000, "invoices to generate")
		customers    = fs.Int("customers", 0, "billing customers (0 = invoices/20)")
		ties         = fs.String("ties", "", "comma-separated sizes of groups of invoices sharing one updated_at, e.g. 300")
		spread       = fs.Duration("spread", 72*time.Hour, "generated invoices are spread over this interval, ending now")
		seed         = fs.Int64("seed", 1, "seed of the generated data and of fault draws")
		integerIDs   = fs.Bool("integer-ids", false, "integer invoice ids instead of inv_<n>")
		unsorted     = fs.Bool("unsorted", false, "serve invoice pages in a shuffled order")
		omit         = fs.String("omit-accounts", "", "comma-separated billing customer ids that get no CRM account")
		requireAcct  = fs.Bool("require-account", false, "the CRM rejects invoices without an account")
		apiKeyEnv    = fs.String("api-key-env", "DEMO_API_KEY", "environment variable holding the API key both APIs require (unset = no auth)")
		verbosity    = fs.Int("v", 0, "log verbosity (1 logs every throttled or failed request)")
		billingFault demoapi.Faults
		crmFault     demoapi.Faults
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
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(stderr, prefix, args) }, funcr.Options{Verbosity: *verbosity})
	apiKey := os.Getenv(*apiKeyEnv)

	ids := demoapi.StringIDs
	if *integerIDs {
		ids = demoapi.IntegerIDs
	}
	billing := demoapi.NewBilling(demoapi.BillingOptions{
		IDs: ids, Unsorted: *unsorted, Seed: *seed, Faults: billingFault, APIKey: apiKey, Log: log.WithName("billing"),
		Data: demoapi.BillingData{Invoices: *invoices, Customers: *customers, Spread: *spread, Ties: tieSizes},
	})
	crm := demoapi.NewCRM(demoapi.CRMOptions{
		Customers: billing.CustomerIDs(), OmitAccounts: splitList(*omit), RequireAccount: *requireAcct,
		Seed: *seed, Faults: crmFault, APIKey: apiKey, Log: log.WithName("crm"),
	})

	billingLn, err := net.Listen("tcp", *billingAddr)
	if err != nil {
		return fmt.Errorf("listen for the billing API on %s: %w", *billingAddr, err)
	}
	crmLn, err := net.Listen("tcp", *crmAddr)
	if err != nil {
		billingLn.Close()
		return fmt.Errorf("listen for the CRM API on %s: %w", *crmAddr, err)
	}
	servers := []*http.Server{
		{Handler: billing, ReadHeaderTimeout: 10 * time.Second},
		{Handler: crm, ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, 2)
	for i, ln := range []net.Listener{billingLn, crmLn} {
		go func() { errs <- servers[i].Serve(ln) }()
	}
	fmt.Fprintf(stdout, "BILLING_URL=http://%s\nCRM_URL=http://%s\n", billingLn.Addr(), crmLn.Addr())
	log.Info("serving", "invoices", billing.Count(), "customers", len(billing.CustomerIDs()),
		"accounts", len(crm.Accounts()), "auth", apiKey != "")

	var serveErr error
	select {
	case <-ctx.Done():
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

func logStats(log logr.Logger, name string, s demoapi.Stats) {
	log.Info("stopped", "server", name, "requests", s.Requests, "rateLimited", s.RateLimited,
		"injected", s.Injected, "records", s.Records)
}
