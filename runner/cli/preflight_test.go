package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// preflight runs `runner plan --in-cluster` against c and returns the exit code, the
// termination message and stdout.
func (c *inCluster) preflight(t *testing.T) (int, string, string) {
	t.Helper()
	old := terminationLog
	terminationLog = filepath.Join(t.TempDir(), "termination-log")
	defer func() { terminationLog = old }()
	var out bytes.Buffer
	code, _ := PlanInCluster(context.Background(), logr.Discard(), c.runner,
		InCluster{Namespace: c.sj.Namespace, Name: c.sj.Name, Pod: c.sj.Name + "-pf-1-abcde", Trigger: runcontract.TriggerPlan}, &out)
	msg, err := os.ReadFile(terminationLog)
	if err != nil {
		t.Fatalf("no termination message: %v", err)
	}
	return code, string(msg), out.String()
}

// TestPreflightInCluster: `runner plan --in-cluster` with the runner's own Role checks the
// source, the sink and one page and leaves its verdict as the termination message, naming
// what is wrong: a missing table, a missing column, a wrong password (the Secret and key,
// never the password), a Secret key absent from the environment. It never writes the sink,
// the checkpoint or the SyncJob's status, whatever the verdict.
func TestPreflightInCluster(t *testing.T) {
	const password = "Pl4n-s3cret-pw"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *env)
		pass  bool
		want  []string
	}{
		{name: "passes", pass: true, want: []string{"read 3 records, 3 would be written, 0 would fail"}},
		{name: "missing sink table", setup: func(t *testing.T, e *env) {
			synctest.Exec(t, e.sink, `DROP TABLE crm_invoices`)
		}, want: []string{"spec.sink.postgres", "crm_invoices"}},
		{name: "missing source column", setup: func(t *testing.T, e *env) {
			synctest.Exec(t, e.src, `ALTER TABLE invoices DROP COLUMN status`)
		}, want: []string{"status"}},
		{name: "missing sink column", setup: func(t *testing.T, e *env) {
			synctest.Exec(t, e.sink, `ALTER TABLE crm_invoices DROP COLUMN total`)
		}, want: []string{"crm_invoices", "total"}},
		{name: "wrong password", setup: func(t *testing.T, e *env) {
			synctest.Exec(t, e.sink, `DO $$ BEGIN CREATE ROLE alice LOGIN PASSWORD '`+password+`'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`)
			dsn := strings.Replace(e.sink, "postgres://"+strings.SplitN(strings.TrimPrefix(e.sink, "postgres://"), "@", 2)[0]+"@",
				"postgres://alice:"+password+"X@", 1)
			t.Setenv("CRM_DB_DSN", dsn)
		}, want: []string{`spec.sink.postgres (dsn from secret "crm-db" key "dsn")`, "password authentication failed"}},
		{name: "missing secret key", setup: func(t *testing.T, e *env) {
			os.Unsetenv("BILLING_DB_DSN")
		}, want: []string{`spec.source.postgres.dsn: secret "billing-db" key "dsn"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, job{})
			insertInvoices(t, e.src, 1, 3, "2026-06-30 12:00:00+00")
			c := setUpInCluster(t, e, 100)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			code, msg, out := c.preflight(t)
			if tc.pass {
				g.Expect(code).To(Equal(runcontract.ExitOK), msg)
				g.Expect(msg).To(HavePrefix(runcontract.PreflightPassedPrefix))
				g.Expect(out).To(ContainSubstring(`"writes": 3`))
			} else {
				g.Expect(code).To(Equal(runcontract.ExitFailed), msg)
				g.Expect(msg).To(HavePrefix(runcontract.PreflightFailedPrefix))
			}
			for _, w := range tc.want {
				g.Expect(msg).To(ContainSubstring(w))
			}
			g.Expect(msg).NotTo(ContainSubstring(password))
			passed, _, ok := runcontract.ParsePreflightMessage(msg)
			g.Expect(ok).To(BeTrue())
			g.Expect(passed).To(Equal(tc.pass))

			// Nothing written: no sink row, no checkpoint, no status.
			if tc.name == "passes" {
				g.Expect(synctest.Int(t, e.sink, `SELECT count(*) FROM crm_invoices`)).To(Equal(int64(0)))
			}
			cm := &corev1.ConfigMap{}
			g.Expect(c.admin.Get(context.Background(), client.ObjectKey{Namespace: c.sj.Namespace, Name: runcontract.CheckpointConfigMapName(c.sj.Name)}, cm)).To(Succeed())
			g.Expect(cm.Data).NotTo(HaveKey(runcontract.CheckpointKey))
			sj := c.get(g)
			g.Expect(sj.Status.LastRun).To(BeNil())
			g.Expect(sj.Status.Cursor).To(BeNil())
			g.Expect(sj.Status.History).To(BeEmpty())
		})
	}
}
