package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/demoapi"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// The seed article's invoices → CRM example, end to end: the demo billing API and CRM run
// in-process, the runner binary syncs between them in local mode.

const (
	billingToken = "billing-token-s3cr3t-9f2a"
	crmToken     = "crm-token-s3cr3t-77c1"
)

// seed is one billing API, one CRM and a job between them.
type seed struct {
	t       *testing.T
	billing *demoapi.Billing
	crm     *demoapi.CRM
	bURL    string
	cURL    string
	jobFile string
	state   string
}

type seedOpts struct {
	invoices int
	ties     []int
	unsorted bool
	sinkMode string // Upsert (default), Batch, LookupThenWrite
	pageSize int
	extra    string
	omit     []string
	sinkHTTP string // more YAML under spec.sink.http (indented six spaces)
	// sourceHTTP is more YAML under spec.source.http (whole lines, indented six spaces).
	sourceHTTP string
	// pagination is the source's pagination (YAML flow); default NextToken.
	pagination string
	// wrapBilling, when set, wraps the billing API's handler (to act between requests).
	wrapBilling func(http.Handler) http.Handler
}

func newSeed(t *testing.T, o seedOpts) *seed {
	start := time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC)
	billing := demoapi.NewBilling(demoapi.BillingOptions{
		Seed:     7,
		Unsorted: o.unsorted,
		APIKey:   billingToken,
		Data:     demoapi.BillingData{Invoices: o.invoices, Customers: 40, Start: start, Spread: 48 * time.Hour, Ties: o.ties},
	})
	crm := demoapi.NewCRM(demoapi.CRMOptions{Customers: billing.CustomerIDs(), OmitAccounts: o.omit, APIKey: crmToken})
	var bh http.Handler = billing
	if o.wrapBilling != nil {
		bh = o.wrapBilling(billing)
	}
	bs, cs := httptest.NewServer(bh), httptest.NewServer(crm)
	t.Cleanup(bs.Close)
	t.Cleanup(cs.Close)
	dir := t.TempDir()
	s := &seed{t: t, billing: billing, crm: crm, bURL: bs.URL, cURL: cs.URL,
		jobFile: filepath.Join(dir, "job.yaml"), state: filepath.Join(dir, "state")}
	s.writeJob(o)
	return s
}

func (s *seed) writeJob(o seedOpts) {
	mode := o.sinkMode
	if mode == "" {
		mode = "Upsert"
	}
	sink := map[string]string{
		"Upsert":          fmt.Sprintf("url: %s/invoices/billing_invoice_id/{key}\n      method: PATCH", s.cURL),
		"Batch":           fmt.Sprintf("url: %s/invoices/batch/upsert\n      batchSize: 50", s.cURL),
		"LookupThenWrite": fmt.Sprintf("url: %s/invoices\n      searchUrl: %s/invoices/search?billing_invoice_id={key}\n      updateUrl: %s/invoices/{id}", s.cURL, s.cURL, s.cURL),
	}[mode]
	ps := o.pageSize
	if ps == 0 {
		ps = 100
	}
	pagination := o.pagination
	if pagination == "" {
		pagination = "{type: NextToken, tokenPath: next, tokenParam: page_token}"
	}
	sorted := "true"
	if o.unsorted {
		sorted = "false"
	}
	yaml := fmt.Sprintf(`apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: invoices-to-crm
spec:
  purpose: Account managers see each customer's latest invoice status in the CRM.
  owner: revops
  schedule: "0 2 * * *"
  source:
    name: billing
    http:
      url: %[1]s/invoices
      auth: {type: Bearer, secret: {name: billing-api, key: token}}
      afterIdParam: after_id
      pagination: %[8]s
      getByIdUrl: %[1]s/invoices/{id}
      sorted: %[5]s
      retry: {maxAttempts: 2, maxBackoff: 200ms}
%[10]s  sink:
    http:
      mode: %[3]s
      %[4]s
      auth: {type: Bearer, secret: {name: crm-api, key: token}}
      retry: {maxAttempts: 3, maxBackoff: 200ms}
      staleWhen: {status: [409], bodyContains: stale write refused}
%[9]s  key:
    field: billing_invoice_id
    expr: string(record.id)
  mapping:
  - {to: account_id, from: customer_id, required: true, lookup: {url: "%[2]s/accounts?billing_customer_id={value}"}}
  - {to: status, from: status, required: true}
  - {to: total, from: total, type: decimal, required: true}
  cursor: {safetyGap: 5m}
  checkpoint: {interval: 0s}
  pageSize: %[6]d
%[7]s`, s.bURL, s.cURL, mode, sink, sorted, ps, o.extra, pagination, o.sinkHTTP, o.sourceHTTP)
	if err := os.WriteFile(s.jobFile, []byte(yaml), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// run runs the runner binary once against the demo services.
func (s *seed) run(args ...string) result {
	s.t.Helper()
	cmd := exec.Command(runnerBin, append(args, "--state-dir", s.state)...)
	cmd.Env = append(os.Environ(), "BILLING_API_TOKEN="+billingToken, "CRM_API_TOKEN="+crmToken)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	for _, tok := range []string{billingToken, crmToken} {
		if strings.Contains(r.stdout+r.stderr, tok) {
			s.t.Fatalf("a bearer token appeared in the runner's output:\n%s\n%s", r.stdout, r.stderr)
		}
	}
	return r
}

func (s *seed) sync() result { return s.run("sync", "-f", s.jobFile) }

// storedCursor reads the local checkpoint's cursor as "updatedAt/id".
func (s *seed) storedCursor() string {
	data, err := os.ReadFile(filepath.Join(s.state, "checkpoint.json"))
	if os.IsNotExist(err) {
		return ""
	}
	NewWithT(s.t).Expect(err).NotTo(HaveOccurred())
	var st struct {
		Cursor *struct{ UpdatedAt, ID string }
	}
	NewWithT(s.t).Expect(json.Unmarshal(data, &st)).To(Succeed())
	if st.Cursor == nil {
		return ""
	}
	return st.Cursor.UpdatedAt + "/" + st.Cursor.ID
}

// expectCRMEqualsBilling asserts the CRM holds exactly one object per invoice, with the
// invoice's status and total, linked to its customer's account.
func (s *seed) expectCRMEqualsBilling() {
	g := NewWithT(s.t)
	g.Expect(s.crm.DuplicateKeys()).To(BeEmpty())
	invoices := s.billing.Invoices()
	g.Expect(s.crm.Count()).To(Equal(len(invoices)))
	for _, inv := range invoices {
		objs := s.crm.Find(inv.ID)
		g.Expect(objs).To(HaveLen(1), "invoice %s", inv.ID)
		p := objs[0].Properties
		acc, ok := s.crm.AccountForCustomer(inv.CustomerID)
		g.Expect(ok).To(BeTrue())
		g.Expect(p["account_id"]).To(Equal(acc.ID), "invoice %s is not linked to its account", inv.ID)
		g.Expect(p["status"]).To(Equal(inv.Status), "invoice %s", inv.ID)
		g.Expect(fmt.Sprint(p["total"])).To(Equal(inv.Total), "invoice %s", inv.ID)
	}
}

// TestSeedRateLimitedRunResumes is the seed's failure scenario: 2,000 invoices, the
// billing API answers 429 after 500; the run stops cleanly with the cursor at the last
// confirmed page (phase Failed, reason RateLimited); the next run rewinds by the safety
// gap, re-reads the overlap and finishes; the CRM holds exactly 2,000 invoices, no
// duplicates, each linked to its account.
func TestSeedRateLimitedRunResumes(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 2000})
	s.billing.SetFaults(demoapi.Faults{QuotaRequests: 5}) // 5 pages of 100, then 429

	r := s.sync()
	g.Expect(r.code).To(Equal(1), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhaseFailed))
	g.Expect(rec.Reason).To(Equal("RateLimited"))
	g.Expect(rec.Upserted).To(Equal(int64(500)))
	g.Expect(s.crm.Count()).To(Equal(500))
	sorted := sortedInvoices(s.billing)
	g.Expect(s.storedCursor()).To(Equal(cursorOf(sorted[499])), "the cursor must stop at the last confirmed page")

	s.billing.ResetQuota()
	s.billing.SetFaults(demoapi.Faults{})
	r = s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	rec = r.record(t)
	g.Expect(rec.CursorStart.UpdatedAt).To(Equal(sorted[499].UpdatedAt.Add(-5 * time.Minute).Format(time.RFC3339Nano)))
	g.Expect(rec.Read).To(BeNumerically(">", 1500), "the overlap inside the safety gap is read again")
	g.Expect(rec.Upserted).To(Equal(int64(1500)))
	g.Expect(s.storedCursor()).To(Equal(cursorOf(sorted[len(sorted)-1])))
	s.expectCRMEqualsBilling()
}

// TestSeedLateUpdateWithinTheSafetyGap: an invoice's payment clears after the cursor
// passed it, stamped within the safety gap: the next run updates it in the CRM.
func TestSeedLateUpdateWithinTheSafetyGap(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 300})
	g.Expect(s.sync().code).To(Equal(0))
	sorted := sortedInvoices(s.billing)
	last := sorted[len(sorted)-1]
	var open demoapi.Invoice
	for _, inv := range sorted {
		if inv.Status == demoapi.StatusOpen {
			open = inv
		}
	}
	g.Expect(open.ID).NotTo(BeEmpty())
	// The payment lands with an updated_at two minutes behind the stored cursor.
	_, err := s.billing.Pay(open.ID, last.UpdatedAt.Add(-2*time.Minute))
	g.Expect(err).NotTo(HaveOccurred())

	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(1)))
	g.Expect(s.crm.Find(open.ID)[0].Properties["status"]).To(Equal(demoapi.StatusPaid))
	s.expectCRMEqualsBilling()
}

// TestSeedTiesAcrossPages: 300 invoices share one identical updated_at and span pages of
// 100: every one is synced, once.
func TestSeedTiesAcrossPages(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 1000, ties: []int{300}})
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(1000)))
	s.expectCRMEqualsBilling()
	g.Expect(s.crm.Stats().Updated).To(BeZero(), "an invoice was written twice")
}

// TestSeedPerRecordRejections: the CRM rejects some invoices with a 400; they become
// record errors with the API's message, the others land, the run is PartiallySucceeded,
// and the failed keys are retried first on the next run and succeed once the CRM accepts
// them.
func TestSeedPerRecordRejections(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 400})
	sorted := sortedInvoices(s.billing)
	bad := []string{sorted[10].ID, sorted[150].ID, sorted[390].ID}
	for _, k := range bad {
		s.crm.Reject(k, "total must be approved by finance")
	}
	r := s.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	rec := r.record(t)
	g.Expect(rec.Phase).To(Equal(syncv1.RunPhasePartiallySucceeded))
	g.Expect(rec.Failed).To(Equal(int64(3)))
	g.Expect(rec.Upserted).To(Equal(int64(397)))
	g.Expect(r.stderr).To(ContainSubstring("total must be approved by finance"))
	g.Expect(rec.ErrorSummary).NotTo(BeEmpty())
	g.Expect(rec.ErrorSummary[0].SampleIDs).To(ConsistOf(bad))
	g.Expect(s.crm.Count()).To(Equal(397))

	s.crm.ClearRejections()
	r = s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(3)), "the failed keys are fetched by id and retried first")
	s.expectCRMEqualsBilling()
}

// TestSeedUpsertShapesAreIdempotent: each upsert shape, rerun three times (after a
// checkpoint reset, so everything is written again), leaves identical CRM state.
func TestSeedUpsertShapesAreIdempotent(t *testing.T) {
	for _, mode := range []string{"Upsert", "Batch", "LookupThenWrite"} {
		t.Run(mode, func(t *testing.T) {
			g := NewWithT(t)
			s := newSeed(t, seedOpts{invoices: 250, sinkMode: mode})
			var snapshots []string
			for i := 0; i < 3; i++ {
				if i > 0 {
					r := s.run("checkpoint", "reset", "--to", "beginning")
					g.Expect(r.code).To(Equal(0), r.stderr)
				}
				r := s.sync()
				g.Expect(r.code).To(Equal(0), r.stderr)
				snapshots = append(snapshots, crmState(s.crm))
			}
			g.Expect(snapshots[1]).To(Equal(snapshots[0]))
			g.Expect(snapshots[2]).To(Equal(snapshots[0]))
			s.expectCRMEqualsBilling()
		})
	}
}

// TestSeedUnsortedAPI: for an API that does not sort, the cursor moves only at the end of
// a complete run; a run killed midway stores nothing, and the rerun loses nothing.
func TestSeedUnsortedAPI(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 3000, unsorted: true, pageSize: 50})
	s.billing.SetFaults(demoapi.Faults{Latency: 5 * time.Millisecond})

	cmd := exec.Command(runnerBin, "sync", "-f", s.jobFile, "--state-dir", s.state)
	cmd.Env = append(os.Environ(), "BILLING_API_TOKEN="+billingToken, "CRM_API_TOKEN="+crmToken)
	g.Expect(cmd.Start()).To(Succeed())
	g.Eventually(s.crm.Count, 30*time.Second, 10*time.Millisecond).Should(BeNumerically(">", 300))
	g.Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	_ = cmd.Wait()
	g.Expect(s.storedCursor()).To(BeEmpty(), "an unsorted run stored a cursor before its end")
	g.Expect(s.crm.Count()).To(BeNumerically("<", 3000))

	s.billing.SetFaults(demoapi.Faults{})
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	sorted := sortedInvoices(s.billing)
	g.Expect(s.storedCursor()).To(Equal(cursorOf(sorted[len(sorted)-1])))
	s.expectCRMEqualsBilling()
}

// TestSeedMissingAccountIsARecordError: an invoice whose customer has no CRM account is a
// record error naming the lookup, not an unlinked invoice.
func TestSeedMissingAccountIsARecordError(t *testing.T) {
	g := NewWithT(t)
	probe := demoapi.NewBilling(demoapi.BillingOptions{Seed: 7, Data: demoapi.BillingData{Invoices: 200, Customers: 40,
		Start: time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC), Spread: 48 * time.Hour}})
	orphan := probe.CustomerIDs()[3]
	s := newSeed(t, seedOpts{invoices: 200, omit: []string{orphan}})
	r := s.sync()
	g.Expect(r.code).To(Equal(3), r.stderr)
	g.Expect(r.stderr).To(ContainSubstring("lookup target not found"))
	for _, inv := range s.billing.Invoices() {
		if inv.CustomerID == orphan {
			g.Expect(s.crm.Find(inv.ID)).To(BeEmpty(), "invoice %s was written without its account", inv.ID)
		}
	}
}

// TestSeedRedaction: the bearer tokens never appear in any output, the checkpoint or the
// audit, even when requests fail.
func TestSeedRedaction(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 200})
	s.crm.SetFaults(demoapi.Faults{FailEvery: 1, FailStatus: 500})
	first := s.sync() // run() fails the test if a token appears in stdout or stderr
	g.Expect(first.code).NotTo(Equal(0), "every CRM request fails: the first run cannot succeed")
	s.crm.SetFaults(demoapi.Faults{})
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	s.expectCRMEqualsBilling()
	data, err := os.ReadFile(filepath.Join(s.state, "checkpoint.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).NotTo(ContainSubstring(billingToken))
	g.Expect(string(data)).NotTo(ContainSubstring(crmToken))
}

// sortedInvoices returns the invoices ascending by (updated_at, id).
func sortedInvoices(b *demoapi.Billing) []demoapi.Invoice {
	invs := b.Invoices()
	sort.Slice(invs, func(i, j int) bool {
		if c := invs[i].UpdatedAt.Compare(invs[j].UpdatedAt); c != 0 {
			return c < 0
		}
		return b.CompareIDs(invs[i].ID, invs[j].ID) < 0
	})
	return invs
}

func cursorOf(inv demoapi.Invoice) string {
	return inv.UpdatedAt.UTC().Format(time.RFC3339Nano) + "/" + inv.ID
}

// crmState renders the CRM's objects (key, properties, source version) in key order.
func crmState(c *demoapi.CRM) string {
	objs := c.Invoices()
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	var b strings.Builder
	for _, o := range objs {
		props, _ := json.Marshal(o.Properties)
		fmt.Fprintf(&b, "%s %s %s\n", o.Key, props, o.SourceUpdatedAt.Format(time.RFC3339Nano))
	}
	return b.String()
}

// TestSeedTheSampleWorksAsWritten: config/samples' main example, pointed at the demo
// services, syncs every invoice.
func TestSeedTheSampleWorksAsWritten(t *testing.T) {
	g := NewWithT(t)
	s := newSeed(t, seedOpts{invoices: 500})
	data, err := os.ReadFile(filepath.Join(kubetest.RepoRoot(), "config", "samples", "sync_v1alpha1_syncjob.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	job := strings.NewReplacer("http://billing.example.internal", s.bURL, "http://crm.example.internal", s.cURL).Replace(string(data))
	g.Expect(os.WriteFile(s.jobFile, []byte(job), 0o600)).To(Succeed())
	r := s.sync()
	g.Expect(r.code).To(Equal(0), r.stderr)
	g.Expect(r.record(t).Upserted).To(Equal(int64(500)))
	s.expectCRMEqualsBilling()
	paid := 0
	for _, o := range s.crm.Invoices() {
		if o.Properties["paid"] == true {
			paid++
		}
	}
	g.Expect(paid).To(BeNumerically(">", 0))
}
