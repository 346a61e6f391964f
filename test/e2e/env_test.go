package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// The tests' source and sink tables: the billing invoices and the CRM's copy of them.
const (
	sourceTable = `CREATE TABLE invoices (
		id bigint PRIMARY KEY,
		customer_id text NOT NULL,
		status text NOT NULL,
		total text NOT NULL,
		updated_at timestamptz NOT NULL)`
	sinkTable = `CREATE TABLE crm_invoices (
		billing_invoice_id text PRIMARY KEY,
		billing_customer_id text NOT NULL,
		status text NOT NULL,
		total numeric(12,2) NOT NULL,
		source_updated_at timestamptz NOT NULL,
		synced_at timestamptz,
		sync_run_id text)`
)

// env is one test's world: a namespace holding the Secrets with the DSNs, and a source and
// a sink database.
type env struct {
	t  *testing.T
	ns string
	// src and sink are the databases' DSNs for the test itself (loopback).
	src, sink string
}

// newEnv creates the test's namespace, databases and Secrets billing-db and crm-db (key
// dsn, the pods' DSNs). On failure it logs what the cluster shows; the namespace is
// deleted at the end.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ns: "e2e-" + dnsName(t.Name()) + "-" + randomHex(2)}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}
	if err := kube.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", e.ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.diagnose()
		}
		if err := kube.Delete(context.Background(), ns); err != nil {
			t.Logf("delete namespace %s: %v", e.ns, err)
		}
	})
	db := strings.ReplaceAll(e.ns, "-", "_")
	e.src = e.createDB(db+"_billing", sourceTable)
	e.sink = e.createDB(db+"_crm", sinkTable)
	e.secret("billing-db", "dsn", podDSN(db+"_billing"))
	e.secret("crm-db", "dsn", podDSN(db+"_crm"))
	return e
}

// dnsName turns a test name into a piece of a namespace name.
func dnsName(s string) string {
	s = strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(s, "-"))
	s = strings.TrimPrefix(s, "test")
	s = strings.Trim(s, "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	return s
}

// createDB creates a database owned by runnerRole, runs setup in it and returns its
// loopback DSN.
func (e *env) createDB(name string, setup ...string) string {
	e.t.Helper()
	synctest.Exec(e.t, pg.DSN("postgres"), fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), runnerRole))
	dsn := localDSN(name)
	synctest.Exec(e.t, dsn, setup...)
	return dsn
}

// secret creates a Secret with one key.
func (e *env) secret(name, key, value string) {
	e.t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		StringData: map[string]string{key: value},
	}
	if err := kube.Create(context.Background(), s); err != nil {
		e.t.Fatalf("create Secret %s: %v", name, err)
	}
}

// syncJob is the tests' invoices → CRM SyncJob: suspended (only requested runs), a 1m
// safety gap, the checkpoint stored every second; change adjusts the spec.
func (e *env) syncJob(name string, change func(*syncv1.SyncJobSpec)) *syncv1.SyncJob {
	sj := &syncv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: syncv1.SyncJobSpec{
			Purpose:  "e2e: billing invoices into the CRM",
			Owner:    "e2e@example.com",
			Schedule: "0 2 * * *",
			Suspend:  ptr.To(true),
			Source: syncv1.SourceSpec{Name: "billing", Postgres: &syncv1.PostgresSource{
				DSN: syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}, Table: "invoices",
			}},
			Sink: syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{
				DSN: syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}, Table: "crm_invoices",
				SyncedAtColumn: "synced_at", RunIDColumn: "sync_run_id",
			}},
			Key: syncv1.KeySpec{Field: "billing_invoice_id"},
			Mapping: []syncv1.FieldMapping{
				{To: "billing_customer_id", From: "customer_id", Type: syncv1.FieldString, Required: true},
				{To: "status", From: "status", Type: syncv1.FieldString, Required: true},
				{To: "total", From: "total", Type: syncv1.FieldDecimal, Required: true},
			},
			Cursor:     syncv1.CursorSpec{SafetyGap: &metav1.Duration{Duration: time.Minute}},
			Checkpoint: syncv1.CheckpointSpec{Interval: &metav1.Duration{Duration: time.Second}},
			PageSize:   500,
			Runner:     syncv1.RunnerSpec{ActiveDeadlineSeconds: ptr.To[int64](300)},
		},
	}
	if change != nil {
		change(&sj.Spec)
	}
	if err := kube.Create(context.Background(), sj); err != nil {
		e.t.Fatalf("create SyncJob %s: %v", name, err)
	}
	return sj
}

// get reads a SyncJob.
func (e *env) get(g Gomega, name string) *syncv1.SyncJob {
	sj := &syncv1.SyncJob{}
	g.Expect(kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, sj)).To(Succeed())
	return sj
}

// annotate merges annotations into a SyncJob (an operator's request).
func (e *env) annotate(name string, ann map[string]string) {
	e.t.Helper()
	parts := make([]string, 0, len(ann))
	for k, v := range ann {
		parts = append(parts, fmt.Sprintf("%q:%q", k, v))
	}
	patch := []byte(`{"metadata":{"annotations":{` + strings.Join(parts, ",") + `}}}`)
	sj := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}
	if err := kube.Patch(context.Background(), sj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		e.t.Fatalf("annotate SyncJob %s: %v", name, err)
	}
}

// requestRun asks for a run with token and returns the name of the Job it gets.
func (e *env) requestRun(name, token string) string {
	e.annotate(name, map[string]string{syncv1.RunRequestedAnnotation: token})
	return runcontract.RequestedJobName(name, runcontract.KindRun, token)
}

// requestBackfill asks for a backfill of [from, to) with token and returns its Job's name.
func (e *env) requestBackfill(name, token string, from, to time.Time) string {
	e.annotate(name, map[string]string{
		syncv1.BackfillRequestedAnnotation: token,
		syncv1.BackfillFromAnnotation:      from.UTC().Format(time.RFC3339Nano),
		syncv1.BackfillToAnnotation:        to.UTC().Format(time.RFC3339Nano),
	})
	return runcontract.RequestedJobName(name, runcontract.KindBackfill, token)
}

// finished is a phase in which a run ended.
func finished(p syncv1.RunPhase) bool { return p != "" && p != syncv1.RunPhaseRunning }

// waitRunOf waits until status.lastRun is the finished run of Job job (the runner's run ID
// is its Pod's name, "<job>-<suffix>"; a run recorded by the controller has the Job's
// name) and returns the SyncJob.
func (e *env) waitRunOf(name, job string, timeout time.Duration) *syncv1.SyncJob {
	e.t.Helper()
	var sj *syncv1.SyncJob
	NewWithT(e.t).Eventually(func(g Gomega) {
		sj = e.get(g, name)
		for _, c := range sj.Status.Conditions {
			if c.Type == syncv1.ConditionStalled && c.Status == metav1.ConditionTrue {
				StopTrying(fmt.Sprintf("SyncJob %s is stalled (%s): %s", name, c.Reason, c.Message)).Now()
			}
		}
		last := sj.Status.LastRun
		g.Expect(last).NotTo(BeNil(), "no run recorded yet")
		g.Expect(last.RunID == job || strings.HasPrefix(last.RunID, job+"-")).To(BeTrue(), "lastRun is %s, not a run of Job %s", last.RunID, job)
		g.Expect(finished(last.Phase)).To(BeTrue(), "run %s is %s", last.RunID, last.Phase)
	}).WithTimeout(timeout).WithPolling(500 * time.Millisecond).Should(Succeed())
	return sj
}

// waitLeaseFree waits until no runner holds the SyncJob's run Lease: it has no holder, or
// its holder stopped renewing it longer ago than its duration.
func (e *env) waitLeaseFree(name string, timeout time.Duration) {
	e.t.Helper()
	NewWithT(e.t).Eventually(func(g Gomega) {
		l := &coordinationv1.Lease{}
		g.Expect(kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name + "-run"}, l)).To(Succeed())
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return
		}
		g.Expect(l.Spec.RenewTime).NotTo(BeNil())
		g.Expect(l.Spec.LeaseDurationSeconds).NotTo(BeNil())
		expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		g.Expect(time.Now().After(expires)).To(BeTrue(), "%s holds the run lock until %s", *l.Spec.HolderIdentity, expires)
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
}

// ready returns the SyncJob's Ready condition (nil when absent).
func ready(sj *syncv1.SyncJob) *metav1.Condition {
	for i := range sj.Status.Conditions {
		if sj.Status.Conditions[i].Type == syncv1.ConditionReady {
			return &sj.Status.Conditions[i]
		}
	}
	return nil
}

// checkpointState reads the stored checkpoint (ConfigMap <name>-checkpoint, checkpoint.json).
func (e *env) checkpointState(g Gomega, name string) runcontract.Checkpoint {
	cm := &corev1.ConfigMap{}
	g.Expect(kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name + "-checkpoint"}, cm)).To(Succeed())
	var st runcontract.Checkpoint
	raw := cm.Data[runcontract.CheckpointKey]
	g.Expect(raw).NotTo(BeEmpty(), "ConfigMap %s-checkpoint has no %s", name, runcontract.CheckpointKey)
	g.Expect(json.Unmarshal([]byte(raw), &st)).To(Succeed())
	return st
}

// outcomeReasons are the reasons of the one Event each finished run gets (README,
// "Events").
var outcomeReasons = map[string]bool{
	"RunSucceeded": true, "RunPartiallySucceeded": true, "RunFailed": true, "RunInterrupted": true,
}

// expectOutcomeEvents asserts that the SyncJob has exactly want run-outcome Events with the
// given reasons in order of time, and that no near-duplicate arrives a little later (the
// controller's and the runner's Events for one run used to be two or three).
func (e *env) expectOutcomeEvents(name string, want ...string) {
	e.t.Helper()
	list := func(g Gomega) []string {
		evs := &corev1.EventList{}
		g.Expect(kube.List(context.Background(), evs, client.InNamespace(e.ns))).To(Succeed())
		var items []corev1.Event
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind == "SyncJob" && ev.InvolvedObject.Name == name && outcomeReasons[ev.Reason] {
				items = append(items, ev)
			}
		}
		slices.SortStableFunc(items, func(a, b corev1.Event) int {
			return eventTime(a).Compare(eventTime(b))
		})
		var got []string
		for _, ev := range items {
			g.Expect(ev.Count).To(BeNumerically("<=", 1), "Event %s/%s counted %d times", ev.Reason, ev.Name, ev.Count)
			got = append(got, ev.Reason)
		}
		return got
	}
	g := NewWithT(e.t)
	g.Eventually(list).WithTimeout(30*time.Second).WithPolling(time.Second).Should(Equal(want), "one Event per run outcome")
	g.Consistently(list).WithTimeout(5*time.Second).WithPolling(time.Second).Should(Equal(want), "a second Event for one run arrived later")
}

// eventTime is when an Event happened: its event time, else its first timestamp.
func eventTime(ev corev1.Event) time.Time {
	if !ev.EventTime.IsZero() {
		return ev.EventTime.Time
	}
	return ev.FirstTimestamp.Time
}

// storedCursor is the checkpoint's cursor as the status renders it: nil when no
// checkpoint (or no cursor) is stored yet.
func (e *env) storedCursor(g Gomega, name string) *syncv1.Cursor {
	cm := &corev1.ConfigMap{}
	err := kube.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name + "-checkpoint"}, cm)
	if apierrors.IsNotFound(err) || (err == nil && cm.Data[runcontract.CheckpointKey] == "") {
		return nil
	}
	g.Expect(err).NotTo(HaveOccurred())
	return wire(e.checkpointState(g, name).Cursor)
}

// jobs lists the Jobs of a SyncJob's runs.
func (e *env) jobs(g Gomega, name string) []batchv1.Job {
	list := &batchv1.JobList{}
	g.Expect(kube.List(context.Background(), list, client.InNamespace(e.ns), client.MatchingLabels{runcontract.LabelJob: name})).To(Succeed())
	return list.Items
}

// pods lists the Pods of one Job.
func (e *env) pods(g Gomega, job string) []corev1.Pod {
	list := &corev1.PodList{}
	g.Expect(kube.List(context.Background(), list, client.InNamespace(e.ns), client.MatchingLabels{"batch.kubernetes.io/job-name": job})).To(Succeed())
	return list.Items
}

// diagnose logs what the namespace holds, the runner Pods' logs and the manager's log tail.
func (e *env) diagnose() {
	for _, args := range [][]string{
		{"-n", e.ns, "get", "syncjobs,cronjobs,jobs,pods,configmaps,leases", "-o", "wide"},
		{"-n", e.ns, "get", "syncjobs", "-o", "yaml"},
		{"-n", e.ns, "get", "events", "--sort-by=.lastTimestamp"},
		{"-n", e.ns, "logs", "-l", runcontract.LabelJob, "--tail=40", "--prefix", "--all-containers"},
	} {
		out, err := kubectl(args...)
		e.t.Logf("$ kubectl %s\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
	// The manager's lines about this namespace, without stack traces.
	out, err := kubectl("-n", "checkpointed-system", "logs", "deployment/checkpointed-controller-manager", "--tail=2000")
	var mine []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"`+e.ns+`"`) {
			if i := strings.Index(l, `,"stacktrace"`); i > 0 {
				l = l[:i] + "}"
			}
			mine = append(mine, l)
		}
	}
	if len(mine) > 30 {
		mine = mine[len(mine)-30:]
	}
	e.t.Logf("manager log lines about %s:\n%s%v", e.ns, strings.Join(mine, "\n"), errOrEmpty(err))
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// insertInvoices adds invoices first..first+n-1, invoice i updated at base + (i-first)
// seconds.
func insertInvoices(t *testing.T, dsn string, first, n int, base time.Time) {
	t.Helper()
	synctest.Exec(t, dsn, fmt.Sprintf(`INSERT INTO invoices
		SELECT i, 'cus_' || (i %% 97), (ARRAY['open','paid','void'])[1 + i %% 3],
		       ((i * 7919) %% 100000)::text || '.' || lpad((i %% 100)::text, 2, '0'),
		       timestamptz '%s' + (i - %d) * interval '1 second'
		FROM generate_series(%d, %d) AS i`, base.UTC().Format(time.RFC3339Nano), first, first, first+n-1))
}
