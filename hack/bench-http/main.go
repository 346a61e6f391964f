// Command bench-http measures the runner against HTTP APIs: the demo billing API
// (test/demoapi) serves -invoices invoices with a server-side rate limit of -api-rate
// requests per second (429 with Retry-After beyond it), and the demo CRM takes them by
// batch upsert with account lookups, under the same limit. The runner binary syncs them in
// local mode with page size 100 and its client-side limit (spec.rateLimit) at -client-rate.
//
// It prints the achieved request rate against the allowed one, records per second, the
// 429s received and the runner's peak RSS, each against its target: at least 95 % of the
// allowed request rate, zero 429s when the client-side limit is at or under the API's,
// peak RSS at most 64 MiB. With -over (default) it also runs with the client limit above
// the APIs' own, to show the 429s being absorbed (information only). -slow-sink repeats the
// main scenario with a CRM whose batch upserts take that long (the next page is read while
// one is written, within the same rate limit), printing the same two targets; -failed-keys
// fetches that many failed keys through the HTTP source per id and in batches of 100, with
// the requests made, the time and the 429s of each. It is a benchmark, not a test: it
// exits 0 when a target is missed and 1 when something broke (the runner failed, the CRM
// does not hold exactly the invoices).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/checkpointed/checkpointed/test/demoapi"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

func main() {
	invoices := flag.Int("invoices", 100_000, "invoices in the billing API")
	apiRate := flag.Float64("api-rate", 50, "server-side limit of each API, requests per second")
	clientRate := flag.Float64("client-rate", 50, "the runner's client-side limit (spec.rateLimit)")
	over := flag.Bool("over", true, "also run with the client limit above the APIs' (1k invoices, APIs at 5/s)")
	slowSink := flag.Duration("slow-sink", 15*time.Millisecond, "time each CRM batch upsert takes in the slow-sink scenario (0 skips it)")
	failedKeys := flag.Int("failed-keys", 1000, "failed keys fetched per id and in batches (0 skips it)")
	flag.Parse()
	if err := run(*invoices, *apiRate, *clientRate, *over, *slowSink, *failedKeys); err != nil {
		fmt.Fprintln(os.Stderr, "bench-http:", err)
		os.Exit(1)
	}
}

type outcome struct {
	wall       time.Duration
	requests   int64
	throttled  int64
	rssBytes   int64
	records    int
	clientRate float64
	apiRate    float64
}

func run(invoices int, apiRate, clientRate float64, over bool, slowSink time.Duration, failedKeys int) error {
	dir, err := os.MkdirTemp("", "bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runner := filepath.Join(dir, "runner")
	build := exec.Command("go", "build", "-trimpath", "-o", runner, "./runner")
	build.Dir = kubetest.RepoRoot()
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build runner: %w", err)
	}

	fmt.Printf("HTTP benchmark: billing API → CRM (batch upsert + account lookups), page size 100, Go %s, %d cores\n",
		runtime.Version(), runtime.NumCPU())
	main, err := scenario(runner, dir, "main", invoices, demoapi.Faults{RatePerSecond: apiRate}, demoapi.Faults{RatePerSecond: apiRate}, clientRate)
	if err != nil {
		return err
	}
	allowed := min(apiRate*2, clientRate) // two APIs, one client-side bucket for both
	rate := float64(main.requests) / main.wall.Seconds()
	fmt.Printf("  %d invoices in %.1f s: %.0f records/s\n", main.records, main.wall.Seconds(), float64(main.records)/main.wall.Seconds())
	fmt.Printf("  requests/s achieved         %6.1f of %.0f allowed (%.1f %%)   target >= 95 %%   %s\n",
		rate, allowed, 100*rate/allowed, verdict(rate >= 0.95*allowed))
	fmt.Printf("  429s received               %6d (client %.0f/s, each API %.0f/s)   target 0   %s\n",
		main.throttled, clientRate, apiRate, verdict(clientRate > apiRate || main.throttled == 0))
	fmt.Printf("  runner peak RSS             %6.1f MiB   target <= 64 MiB   %s\n", mib(main.rssBytes), verdict(main.rssBytes <= 64<<20))

	if over {
		o, err := scenario(runner, dir, "over", 1_000, demoapi.Faults{RatePerSecond: 5}, demoapi.Faults{RatePerSecond: 5}, clientRate)
		if err != nil {
			return err
		}
		fmt.Printf("  client limit above the APIs' (client %.0f/s, each API 5/s): %d invoices in %.1f s at %.1f req/s; %d 429s received and\n"+
			"    absorbed (the client follows the APIs' RateLimit-Remaining/Reset headers and Retry-After); no duplicates\n",
			clientRate, o.records, o.wall.Seconds(), float64(o.requests)/o.wall.Seconds(), o.throttled)
	}
	return runExtra(runner, dir, invoices, apiRate, clientRate, slowSink, failedKeys)
}

// scenario syncs n invoices once, the billing API and the CRM under their faults (rate
// limit, latency), and checks the CRM afterwards.
func scenario(runner, dir, name string, n int, billingFaults, crmFaults demoapi.Faults, clientRate float64, wrapCRM ...func(http.Handler) http.Handler) (outcome, error) {
	billing := demoapi.NewBilling(demoapi.BillingOptions{
		Seed: 1, MaxLimit: 100, APIKey: "bench-billing-token",
		Data:   demoapi.BillingData{Invoices: n, Customers: min(200, n/20), Ties: []int{min(300, n/10)}},
		Faults: billingFaults,
	})
	crm := demoapi.NewCRM(demoapi.CRMOptions{Customers: billing.CustomerIDs(), APIKey: "bench-crm-token",
		Faults: crmFaults})
	var ch http.Handler = crm
	for _, w := range wrapCRM {
		ch = w(ch)
	}
	bs, cs := httptest.NewServer(billing), httptest.NewServer(ch)
	defer bs.Close()
	defer cs.Close()

	job := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(job, []byte(fmt.Sprintf(jobYAML, bs.URL, cs.URL, clientRate)), 0o600); err != nil {
		return outcome{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runner, "sync", "-f", job, "--state-dir", filepath.Join(dir, "state-"+name))
	cmd.Env = append(os.Environ(), "BILLING_API_TOKEN=bench-billing-token", "CRM_API_TOKEN=bench-crm-token")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return outcome{}, fmt.Errorf("runner (%s): %w\n%s\n%s", name, err, stdout.String(), tail(stderr.String()))
	}
	if got, dups := crm.Count(), crm.DuplicateKeys(); got != n || len(dups) > 0 {
		return outcome{}, fmt.Errorf("%s: the CRM holds %d invoices (%d duplicate keys), want %d", name, got, len(dups), n)
	}
	bst, cst := billing.Stats(), crm.Stats()
	rss := int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) * 1024
	return outcome{wall: wall, requests: bst.Requests + cst.Requests,
		throttled: bst.RateLimited + cst.RateLimited, rssBytes: rss, records: n, clientRate: clientRate, apiRate: billingFaults.RatePerSecond}, nil
}

const jobYAML = `apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: bench-http
spec:
  schedule: "0 2 * * *"
  source:
    name: billing
    http:
      url: %[1]s/invoices
      auth: {type: Bearer, secret: {name: billing-api, key: token}}
      afterIdParam: after_id
      pagination: {type: NextToken, tokenPath: next, tokenParam: page_token}
  sink:
    http:
      mode: Batch
      url: %[2]s/invoices/batch/upsert
      batchSize: 100
      auth: {type: Bearer, secret: {name: crm-api, key: token}}
      staleWhen: {status: [409], bodyContains: stale write refused}
  key: {field: billing_invoice_id, expr: string(record.id)}
  mapping:
  - {to: account_id, from: customer_id, required: true, lookup: {url: "%[2]s/accounts?billing_customer_id={value}"}}
  - {to: status, from: status, required: true}
  - {to: total, from: total, type: decimal, required: true}
  pageSize: 100
  rateLimit: {requestsPerSecond: "%[3]g", burst: 1}
`

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
