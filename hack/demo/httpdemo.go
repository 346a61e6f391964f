package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// The HTTP scenario's names and sizes.
const (
	httpNamespace = "checkpointed-demo-http"
	// The sample's placeholder hosts, replaced by the demo APIs' addresses.
	sampleBilling = "http://billing.example.internal"
	sampleCRM     = "http://crm.example.internal"
	// latePayment is how far behind the stored cursor the late payment is stamped.
	latePayment = 2 * time.Minute
	// payments is how many invoices are paid before the billing API starts answering 429.
	payments = 600
	// quotaPages is how many more list requests the billing API answers before its 429s.
	quotaPages = 3
)

// httpDemo is the seed example: billing API → CRM API, both served by hack/demo-services
// on this machine.
type httpDemo struct {
	*cluster
	podHost string
	sample  string
	billing *api
	crm     *api
}

func (d *httpDemo) run(ctx context.Context) error {
	if d.billing.token == "" || d.crm.token == "" {
		return errors.New("$DEMO_BILLING_TOKEN and $DEMO_CRM_TOKEN must hold the demo APIs' bearer tokens")
	}
	invs, err := d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	faults, err := d.billing.faults(ctx)
	if err != nil {
		return err
	}
	customers := map[string]bool{}
	for _, inv := range invs {
		customers[inv.CustomerID] = true
	}
	step("billing API %s: %d invoices of %d customers, newest updated_at %s, rate limit %v req/s (429 with Retry-After beyond)",
		d.billing.base, len(invs), len(customers), invs[len(invs)-1].UpdatedAt.Format(time.RFC3339), faults["ratePerSecond"])
	step("CRM API %s: one account per billing customer, no invoices yet", d.crm.base)
	sj, err := d.apply(ctx)
	if err != nil {
		return err
	}

	section("the first run: every invoice into the CRM")
	first, err := d.runOK(ctx, sj, "demo-1")
	if err != nil {
		return err
	}
	if first.Upserted != int64(len(invs)) {
		return fmt.Errorf("the first run upserted %d invoices, want %d", first.Upserted, len(invs))
	}
	if err := d.showCRM(ctx, 5); err != nil {
		return err
	}
	if err := d.inSync(ctx); err != nil {
		return err
	}

	if err := d.latePayment(ctx, sj, first); err != nil {
		return err
	}
	if err := d.rateLimited(ctx, sj, faults); err != nil {
		return err
	}
	return d.explainStories(ctx, sj)
}

// explainStories asks `kubectl syncjob explain` — run in-cluster as a one-off Job with the
// SyncJob's credentials — about two invoices that are not in the CRM as billing has them:
// one the CRM refused (verdict Failed) and a payment committed late, behind the cursor by
// more than the safety gap (verdict MissedLateCommit, with the backfill command).
func (d *httpDemo) explainStories(ctx context.Context, sj *syncv1.SyncJob) error {
	section("explain: why is this invoice not in the CRM? (kubectl syncjob explain, run in-cluster)")
	invs, err := d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	var open []invoice
	for _, inv := range invs {
		if inv.Status == "open" {
			open = append(open, inv)
		}
	}
	if len(open) < 2 {
		return fmt.Errorf("only %d open invoices left, want 2", len(open))
	}
	refused, late := open[0], open[1]

	// A record the CRM refuses: the run records it (id, reason) and goes on.
	const why = "invoice is locked for audit"
	if err := d.crm.reject(ctx, refused.ID, why); err != nil {
		return err
	}
	if _, err := d.billing.pay(ctx, refused.ID, time.Now()); err != nil {
		return err
	}
	step("CRM: PUT /admin/rejections/%s {\"message\": %q}; billing: %s paid just now", refused.ID, why, refused.ID)
	rec, err := d.requestRun(ctx, sj, "demo-5")
	if err != nil {
		return err
	}
	if rec.Phase != syncv1.RunPhasePartiallySucceeded || rec.Failed < 1 {
		d.kubectlOut("-n", sj.Namespace, "describe", "syncjob", sj.Name)
		return fmt.Errorf("run %s ended %s with %d failed records, want PartiallySucceeded with the refused invoice", rec.RunID, rec.Phase, rec.Failed)
	}
	step("run %s %s: upserted %d, failed %d (%s)", rec.RunID, rec.Phase, rec.Upserted, rec.Failed, refused.ID)
	out, code := d.syncjob("explain", sj.Name, refused.ID, "-n", sj.Namespace, "--timeout", "3m")
	if code != 0 || !strings.HasPrefix(out, "Failed:") || !strings.Contains(out, why) {
		return fmt.Errorf("kubectl syncjob explain %s: exit %d, want the Failed verdict naming %q", refused.ID, code, why)
	}

	// A payment committed late: stamped behind the cursor by more than the safety gap, so
	// that no run reads it again.
	cur, err := cursorTime(rec.CursorEnd)
	if err != nil {
		return err
	}
	gap := 5 * time.Minute
	if sj.Spec.Cursor.SafetyGap != nil {
		gap = sj.Spec.Cursor.SafetyGap.Duration
	}
	at := cur.Add(-2 * gap)
	if _, err := d.billing.pay(ctx, late.ID, at); err != nil {
		return err
	}
	step("billing: %s paid with updated_at %s, %s behind the cursor %s (the safety gap is %s): a commit that landed after a run had read past it",
		late.ID, at.UTC().Format(time.RFC3339Nano), 2*gap, rec.CursorEnd.UpdatedAt, gap)
	out, code = d.syncjob("explain", sj.Name, late.ID, "-n", sj.Namespace, "--timeout", "3m")
	if code != 0 || !strings.HasPrefix(out, "MissedLateCommit:") || !strings.Contains(out, syncv1.BackfillRequestedAnnotation) {
		return fmt.Errorf("kubectl syncjob explain %s: exit %d, want the MissedLateCommit verdict with the backfill command", late.ID, code)
	}

	// Fix the refusal: the next run retries the failed key first.
	if err := d.crm.clearRejection(ctx, refused.ID); err != nil {
		return err
	}
	step("CRM: DELETE /admin/rejections/%s: the next run retries it first (kubectl syncjob run %s -n %s --wait)", refused.ID, sj.Name, sj.Namespace)
	return nil
}

// apply recreates the namespace with the Secrets holding the APIs' tokens and applies the
// sample SyncJob with its URLs pointing at the demo APIs on the pod bridge's gateway.
func (d *httpDemo) apply(ctx context.Context) (*syncv1.SyncJob, error) {
	raw, err := os.ReadFile(d.sample)
	if err != nil {
		return nil, fmt.Errorf("read the sample SyncJob: %w", err)
	}
	billingPod, err := d.podURL(d.billing.base)
	if err != nil {
		return nil, err
	}
	crmPod, err := d.podURL(d.crm.base)
	if err != nil {
		return nil, err
	}
	text := strings.NewReplacer(sampleBilling, billingPod, sampleCRM, crmPod).Replace(string(raw))
	if strings.Contains(text, ".example.internal") {
		return nil, fmt.Errorf("%s: a URL other than %s and %s is left unreplaced", d.sample, sampleBilling, sampleCRM)
	}
	sj := &syncv1.SyncJob{}
	if err := yaml.UnmarshalStrict([]byte(text), sj); err != nil {
		return nil, fmt.Errorf("%s: %w", d.sample, err)
	}
	sj.Namespace = httpNamespace
	if err := d.freshNamespace(ctx, httpNamespace, map[string]map[string]string{
		"billing-api": {"token": d.billing.token},
		"crm-api":     {"token": d.crm.token},
	}); err != nil {
		return nil, err
	}
	if err := d.kube.Create(ctx, sj); err != nil {
		return nil, fmt.Errorf("create SyncJob %s: %w", sj.Name, err)
	}
	step("SyncJob %s/%s applied: %s with %s → %s and %s → %s; Secrets billing-api and crm-api hold the bearer tokens",
		httpNamespace, sj.Name, d.sample, sampleBilling, billingPod, sampleCRM, crmPod)
	return sj, nil
}

// podURL is where runner Pods reach the API served at base: the same port on the pod
// bridge's gateway.
func (d *httpDemo) podURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("API URL %q: %w", base, err)
	}
	return "http://" + net.JoinHostPort(d.podHost, u.Port()), nil
}

// latePayment is the seed's first story: an invoice's payment clears with an updated_at a
// couple of minutes behind the stored cursor; the safety gap makes the next run catch it.
func (d *httpDemo) latePayment(ctx context.Context, sj *syncv1.SyncJob, prev *syncv1.RunRecord) error {
	section("a late payment: paid with an updated_at behind the cursor")
	cur, err := cursorTime(prev.CursorEnd)
	if err != nil {
		return err
	}
	invs, err := d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	// The oldest open invoice: far behind the cursor, so only its late payment brings it
	// back into the window a run reads.
	i := slices.IndexFunc(invs, func(inv invoice) bool { return inv.Status == "open" })
	if i < 0 {
		return errors.New("no open invoice to pay")
	}
	inv := invs[i]
	before, err := d.crm.object(ctx, inv.ID)
	if err != nil {
		return err
	}
	at := cur.Add(-latePayment)
	paid, err := d.billing.pay(ctx, inv.ID, at)
	if err != nil {
		return err
	}
	step("the stored cursor is %s @ %s; billing: POST /admin/invoices/%s/pay?updated_at=%s (%s behind the cursor; it was %s, updated %s)",
		prev.CursorEnd.ID, prev.CursorEnd.UpdatedAt, inv.ID, paid.UpdatedAt.Format(time.RFC3339Nano), latePayment,
		inv.Status, inv.UpdatedAt.Format(time.RFC3339))
	step("CRM before the run: %s status %s, paid %s (version %d)", before.Key, before.prop("status"), before.prop("paid"), before.Version)
	rec, err := d.runOK(ctx, sj, "demo-2")
	if err != nil {
		return err
	}
	after, err := d.crm.object(ctx, inv.ID)
	if err != nil {
		return err
	}
	step("CRM after the run:  %s status %s, paid %s (version %d): the run started at %s (the cursor minus the %s safety gap) and caught it",
		after.Key, after.prop("status"), after.prop("paid"), after.Version, rec.CursorStart.UpdatedAt, safetyGap(sj))
	if after.prop("status") != "paid" || after.prop("paid") != "true" {
		return fmt.Errorf("the late payment of %s did not reach the CRM (status %q, paid %q)", inv.ID, after.prop("status"), after.prop("paid"))
	}
	return d.inSync(ctx)
}

// rateLimited is the seed's second story: many invoices change, the billing API answers
// 429 after a few pages, the run stops with the cursor at the last confirmed page; the
// quota renews and the next run finishes, writing nothing twice.
func (d *httpDemo) rateLimited(ctx context.Context, sj *syncv1.SyncJob, faults map[string]any) error {
	section(fmt.Sprintf("the billing API answers 429 after %d pages: the run stops at the last confirmed page, the next one finishes", quotaPages))
	invs, err := d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	var open []invoice
	for _, inv := range slices.SortedFunc(slices.Values(invs), func(a, b invoice) int { return strings.Compare(a.ID, b.ID) }) {
		if inv.Status == "open" && len(open) < payments {
			open = append(open, inv)
		}
	}
	if len(open) < payments {
		return fmt.Errorf("only %d open invoices, want %d", len(open), payments)
	}
	// Stamped a few milliseconds apart over the last minute, as a payment run would.
	base := time.Now().Add(-time.Minute)
	paid := map[string]bool{}
	for i, inv := range open {
		if _, err := d.billing.pay(ctx, inv.ID, base.Add(time.Duration(i)*50*time.Millisecond)); err != nil {
			return err
		}
		paid[inv.ID] = true
	}
	step("billing: %d open invoices paid just now (POST /admin/invoices/{id}/pay)", payments)
	quota := clone(faults)
	quota["quotaRequests"] = quotaPages
	if err := d.billing.setFaults(ctx, quota); err != nil {
		return err
	}
	step("billing: PUT /admin/faults {\"quotaRequests\": %d, ...}: %d more requests, then 429 until the quota renews", quotaPages, quotaPages)

	start := time.Now()
	rec, err := d.requestRun(ctx, sj, "demo-3")
	if err != nil {
		return err
	}
	if rec.Phase != syncv1.RunPhaseFailed || rec.Reason != "RateLimited" {
		d.kubectlOut("-n", sj.Namespace, "describe", "syncjob", sj.Name)
		return fmt.Errorf("run %s ended %s (%s), want Failed (RateLimited): %s", rec.RunID, rec.Phase, rec.Reason, rec.Message)
	}
	step("run %s %s (%s) after %s, retries exhausted: %s", rec.RunID, rec.Phase, rec.Reason, time.Since(start).Round(time.Second), rec.Message)
	step("read %d, upserted %d, unchanged %d; cursor %s @ %s", rec.Read, rec.Upserted, rec.Unchanged, rec.CursorEnd.ID, rec.CursorEnd.UpdatedAt)
	d.kubectlOut("-n", sj.Namespace, "get", "syncjobs")
	d.kubectlOut("-n", sj.Namespace, "get", "configmap", sj.Name+"-checkpoint", "-o", `jsonpath={.data.checkpoint\.json}`)

	// The run read quotaPages full pages from its start; the last record of the last one is
	// where the cursor must stand.
	invs, err = d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	from, err := cursorTime(rec.CursorStart)
	if err != nil {
		return err
	}
	window := slices.DeleteFunc(slices.Clone(invs), func(inv invoice) bool { return inv.UpdatedAt.Before(from) })
	pageSize := int(sj.Spec.PageSize)
	if pageSize == 0 {
		pageSize = 100
	}
	confirmed := window[:min(quotaPages*pageSize, len(window))]
	want := confirmed[len(confirmed)-1]
	if rec.CursorEnd == nil || rec.CursorEnd.ID != want.ID {
		return fmt.Errorf("the cursor stopped at %v, want the last invoice of page %d: %s @ %s", rec.CursorEnd, quotaPages, want.ID, want.UpdatedAt.Format(time.RFC3339Nano))
	}
	objs, err := d.crm.objects(ctx)
	if err != nil {
		return err
	}
	wantPaid := map[string]bool{}
	for _, inv := range confirmed {
		wantPaid[inv.ID] = paid[inv.ID]
	}
	inCRM := 0
	for _, o := range objs {
		if paid[o.Key] && o.prop("status") == "paid" {
			inCRM++
			if !wantPaid[o.Key] {
				return fmt.Errorf("the CRM shows %s paid, beyond the cursor", o.Key)
			}
		}
	}
	bs, err := d.billing.stats(ctx)
	if err != nil {
		return err
	}
	step("the cursor is the last invoice of page %d, the last page the CRM confirmed; the CRM shows %d of the %d payments, every one of them at or before the cursor; billing answered %d requests with 429 so far",
		quotaPages, inCRM, payments, bs.RateLimited)

	if err := d.billing.setFaults(ctx, faults); err != nil {
		return err
	}
	if err := d.billing.resetQuota(ctx); err != nil {
		return err
	}
	step("billing: the quota renews (POST /admin/quota/reset; PUT /admin/faults back to %v req/s, no quota)", faults["ratePerSecond"])
	next, err := d.runOK(ctx, sj, "demo-4")
	if err != nil {
		return err
	}
	step("run %s started at %s (the stored cursor minus the safety gap), upserted the %d payments still missing, re-read %d unchanged",
		next.RunID, next.CursorStart.UpdatedAt, next.Upserted, next.Unchanged)
	if rec.Upserted+next.Upserted != payments {
		return fmt.Errorf("the two runs upserted %d + %d invoices, want the %d payments", rec.Upserted, next.Upserted, payments)
	}
	return d.inSync(ctx)
}

// showCRM lists the first n CRM invoices through the CRM API.
func (d *httpDemo) showCRM(ctx context.Context, n int) error {
	objs, err := d.crm.firstObjects(ctx, n)
	if err != nil {
		return err
	}
	fmt.Printf("\n$ curl -H \"Authorization: Bearer $CRM_TOKEN\" '%s/invoices?limit=%d'\n", d.crm.base, n)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tBILLING_INVOICE_ID\tACCOUNT_ID\tSTATUS\tTOTAL\tPAID\tSOURCE_UPDATED_AT")
	for _, o := range objs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Key, o.prop("account_id"), o.prop("status"), o.prop("total"), o.prop("paid"), o.prop("source_updated_at"))
	}
	w.Flush()
	fmt.Println()
	return nil
}

// inSync checks that the CRM holds every billing invoice once, with its status and total
// and linked to its customer's account.
func (d *httpDemo) inSync(ctx context.Context) error {
	invs, err := d.billing.invoices(ctx)
	if err != nil {
		return err
	}
	objs, err := d.crm.objects(ctx)
	if err != nil {
		return err
	}
	dups, err := d.crm.duplicates(ctx)
	if err != nil {
		return err
	}
	accs, err := d.crm.accounts(ctx)
	if err != nil {
		return err
	}
	if len(dups) > 0 {
		return fmt.Errorf("the CRM holds duplicates: %v", dups)
	}
	if len(objs) != len(invs) {
		return fmt.Errorf("the CRM holds %d invoices, billing %d", len(objs), len(invs))
	}
	account := map[string]string{}
	for _, a := range accs {
		account[a.BillingCustomerID] = a.ID
	}
	byKey := map[string]crmObject{}
	for _, o := range objs {
		byKey[o.Key] = o
	}
	for _, inv := range invs {
		o, ok := byKey[inv.ID]
		switch {
		case !ok:
			return fmt.Errorf("invoice %s is not in the CRM", inv.ID)
		case o.prop("status") != inv.Status || o.prop("total") != inv.Total:
			return fmt.Errorf("invoice %s: CRM status %s total %s, billing %s %s", inv.ID, o.prop("status"), o.prop("total"), inv.Status, inv.Total)
		case o.prop("account_id") != account[inv.CustomerID]:
			return fmt.Errorf("invoice %s: CRM account %s, want %s (customer %s)", inv.ID, o.prop("account_id"), account[inv.CustomerID], inv.CustomerID)
		}
	}
	step("in sync: GET /admin/duplicates → none; the CRM holds %d invoices = billing's %d, each with billing's status and total, linked to its customer's account",
		len(objs), len(invs))
	return nil
}

// safetyGap is the SyncJob's cursor safety gap as text.
func safetyGap(sj *syncv1.SyncJob) string {
	if sj.Spec.Cursor.SafetyGap == nil {
		return "default"
	}
	return sj.Spec.Cursor.SafetyGap.Duration.String()
}

// cursorTime is the time of a run record's cursor.
func cursorTime(c *syncv1.Cursor) (time.Time, error) {
	if c == nil {
		return time.Time{}, errors.New("the run recorded no cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, c.UpdatedAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor time %q: %w", c.UpdatedAt, err)
	}
	return t, nil
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
