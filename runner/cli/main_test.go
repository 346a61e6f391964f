package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/test/kubetest"
	"github.com/checkpointed/checkpointed/test/pgtest"
	"github.com/checkpointed/checkpointed/test/synctest"
)

// The package's tests share one PostgreSQL server and the runner binary built as users
// build it (go build -o bin/runner ./runner); each test has its own databases.
var (
	server    *pgtest.Server
	runnerBin string
	kube      *kubetest.Env // a real kube-apiserver + etcd for the in-cluster mode
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "runner-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	runnerBin = filepath.Join(dir, "runner")
	build := exec.Command("go", "build", "-o", runnerBin, "./runner")
	build.Dir = kubetest.RepoRoot()
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build runner:", err)
		return 1
	}
	// Role alice logs in with a password (the preflight test's wrong password); every
	// other connection is trusted.
	server, err = pgtest.Start(context.Background(), pgtest.Options{HBA: []string{"host all alice 127.0.0.1/32 scram-sha-256"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	kube, err = kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = kube.Stop() }()
	return m.Run()
}

var dbSeq atomic.Int64

// newDB creates a database, runs setup in it and returns its DSN.
func newDB(t *testing.T, setup ...string) string {
	t.Helper()
	name := fmt.Sprintf("cli%d", dbSeq.Add(1))
	if err := server.CreateDB(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	dsn := server.DSN(name)
	synctest.Exec(t, dsn, setup...)
	return dsn
}

const sourceTable = `CREATE TABLE invoices (
	id bigint PRIMARY KEY,
	customer_id text,
	status text,
	total text,
	updated_at timestamptz NOT NULL)`

const sinkTable = `CREATE TABLE crm_invoices (
	billing_invoice_id text PRIMARY KEY,
	billing_customer_id text NOT NULL,
	status text NOT NULL,
	total numeric(12,2) NOT NULL,
	source_updated_at timestamptz NOT NULL,
	synced_at timestamptz,
	sync_run_id text)`

// job is the test's invoices → CRM SyncJob; extra YAML lines are appended under spec.
type job struct {
	Name     string
	Mapping  string // YAML list under spec.mapping; default: the invoices mapping
	Extra    string // more YAML under spec (indented two spaces)
	PageSize int
}

func (j job) yaml() string {
	name := j.Name
	if name == "" {
		name = "invoices-to-crm"
	}
	m := j.Mapping
	if m == "" {
		m = `  - {to: billing_customer_id, from: customer_id, required: true}
  - {to: status, from: status, required: true}
  - {to: total, from: total, type: decimal, required: true}`
	}
	ps := j.PageSize
	if ps == 0 {
		ps = 100
	}
	return fmt.Sprintf(`apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: %s
spec:
  schedule: "0 2 * * *"
  source:
    name: billing
    postgres:
      dsn: {name: billing-db, key: dsn}
      table: invoices
  sink:
    postgres:
      dsn: {name: crm-db, key: dsn}
      table: crm_invoices
      syncedAtColumn: synced_at
      runIdColumn: sync_run_id
  key:
    field: billing_invoice_id
  mapping:
%s
  pageSize: %d
  checkpoint: {interval: 0s}
%s`, name, m, ps, j.Extra)
}

// env is one local-mode setup: a source and a sink database, a job file, a state dir.
type env struct {
	t              *testing.T
	src, sink      string
	jobFile, state string
	extraEnv       []string
	unset          []string // variables removed from the runner's environment
}

func newEnv(t *testing.T, j job) *env {
	dir := t.TempDir()
	e := &env{
		t:       t,
		src:     newDB(t, sourceTable),
		sink:    newDB(t, sinkTable),
		jobFile: filepath.Join(dir, "job.yaml"),
		state:   filepath.Join(dir, "state"),
	}
	e.writeJob(j)
	return e
}

func (e *env) writeJob(j job) {
	if err := os.WriteFile(e.jobFile, []byte(j.yaml()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// result is one runner invocation.
type result struct {
	code           int
	stdout, stderr string
}

// record parses stdout as the run record.
func (r result) record(t *testing.T) syncv1.RunRecord {
	t.Helper()
	var rec syncv1.RunRecord
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		t.Fatalf("stdout is not a run record: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rec
}

// run runs the runner binary with the job's secrets in the environment.
func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(runnerBin, args...)
	cmd.Env = append(os.Environ(), "BILLING_DB_DSN="+e.src, "CRM_DB_DSN="+e.sink)
	cmd.Env = append(cmd.Env, e.extraEnv...)
	for _, u := range e.unset {
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, u+"=") })
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (e *env) sync() result { return e.run("sync", "-f", e.jobFile, "--state-dir", e.state) }

// checkpoint returns the stored checkpoint as JSON text.
func (e *env) checkpoint() map[string]any {
	e.t.Helper()
	r := e.run("checkpoint", "show", "--state-dir", e.state)
	NewWithT(e.t).Expect(r.code).To(Equal(0), r.stderr)
	var st map[string]any
	NewWithT(e.t).Expect(json.Unmarshal([]byte(r.stdout), &st)).To(Succeed())
	return st
}

// cursorOf returns the stored cursor as "updatedAt/id".
func (e *env) cursorOf() string {
	st := e.checkpoint()
	c, ok := st["cursor"].(map[string]any)
	if !ok {
		return ""
	}
	id, _ := c["id"].(string)
	return fmt.Sprint(c["updatedAt"]) + "/" + id
}

// insertInvoices adds n invoices with ids from first, all updated at base + i ms.
func insertInvoices(t *testing.T, dsn string, first, n int, base string) {
	synctest.Exec(t, dsn, fmt.Sprintf(`INSERT INTO invoices
		SELECT i, 'cus_' || (i %% 17), CASE WHEN i %% 3 = 0 THEN 'paid' ELSE 'open' END,
		       (i * 7 %% 10000)::text || '.' || lpad((i %% 100)::text, 2, '0'),
		       timestamptz '%s' + (i - %d) * interval '1 millisecond'
		FROM generate_series(%d, %d) AS i`, base, first, first, first+n-1))
}
