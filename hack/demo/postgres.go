package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

//go:embed syncjob.yaml
var syncJobYAML []byte

// The Postgres scenario's names.
const (
	pgNamespace = "checkpointed-demo"
	runnerRole  = "demo_runner"
	invoices    = 5000
	changed     = 25
)

// pgDemo is the Postgres scenario: billing.invoices → crm.crm_invoices on the demo's
// PostgreSQL. The runner Pods log in as the role demo_runner with a random password that
// only the Secrets hold.
type pgDemo struct {
	*cluster
	port     int
	podHost  string
	password string
}

func (d *pgDemo) run(ctx context.Context) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	d.password = hex.EncodeToString(b[:])

	if err := d.databases(ctx); err != nil {
		return err
	}
	step("billing.invoices: %d invoices of 40 customers; crm.crm_invoices: empty", invoices)
	sj, err := d.apply(ctx)
	if err != nil {
		return err
	}
	step("SyncJob %s/%s applied (hack/demo/syncjob.yaml), Secrets billing-db and crm-db hold the DSNs", pgNamespace, sj.Name)

	first, err := d.runOK(ctx, sj, "demo-1")
	if err != nil {
		return err
	}
	if first.Upserted != invoices {
		return fmt.Errorf("the first run upserted %d invoices, want %d", first.Upserted, invoices)
	}
	d.show(ctx, "SELECT billing_invoice_id, billing_customer_id, status, total, is_paid, sync_run_id FROM crm_invoices ORDER BY billing_invoice_id::bigint LIMIT 5")

	step("changing %d invoices in billing (status → paid, updated_at → now)", changed)
	if err := d.exec(ctx, "billing", fmt.Sprintf(`UPDATE invoices SET status = 'paid', updated_at = now()
		WHERE id IN (SELECT id FROM invoices WHERE status <> 'paid' ORDER BY id LIMIT %d)`, changed)); err != nil {
		return err
	}
	second, err := d.runOK(ctx, sj, "demo-2")
	if err != nil {
		return err
	}
	if second.Upserted != changed {
		return fmt.Errorf("the incremental run upserted %d invoices, want the %d changed ones", second.Upserted, changed)
	}
	step("incremental run: upserted %d = the %d changed invoices (read %d: the changes, and what the 5m safety gap re-reads, unchanged %d)",
		second.Upserted, changed, second.Read, second.Unchanged)
	d.show(ctx, fmt.Sprintf("SELECT billing_invoice_id, status, is_paid, synced_at, sync_run_id FROM crm_invoices WHERE sync_run_id = '%s' ORDER BY billing_invoice_id::bigint LIMIT 5", second.RunID))
	return nil
}

// databases creates the role the Pods log in as, and the billing and CRM databases.
func (d *pgDemo) databases(ctx context.Context) error {
	// The password is hex: safe inside a literal.
	for _, s := range []string{
		"DROP DATABASE IF EXISTS billing WITH (FORCE)",
		"DROP DATABASE IF EXISTS crm WITH (FORCE)",
		"DROP ROLE IF EXISTS " + runnerRole,
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", runnerRole, d.password),
		"CREATE DATABASE billing OWNER " + runnerRole,
		"CREATE DATABASE crm OWNER " + runnerRole,
	} {
		if err := d.superuser(ctx, "postgres", s); err != nil {
			return err
		}
	}
	if err := d.exec(ctx, "billing", `CREATE TABLE invoices (
			id bigint PRIMARY KEY,
			customer_id text NOT NULL,
			updated_at timestamptz NOT NULL,
			status text NOT NULL,
			total numeric(12,2) NOT NULL)`,
		// One invoice every ~8.6 minutes over the last 30 days; the newest an hour ago.
		fmt.Sprintf(`INSERT INTO invoices
			SELECT i, 'cus_' || lpad((1 + i %% 40)::text, 4, '0'),
			       now() - interval '1 hour' - (%d - i) * interval '30 days' / %d,
			       (ARRAY['open','paid','paid','void'])[1 + i %% 4],
			       round((10 + (i * 7919) %% 5000 + (i %% 100) / 100.0)::numeric, 2)
			FROM generate_series(1, %d) AS i`, invoices, invoices, invoices)); err != nil {
		return err
	}
	return d.exec(ctx, "crm", `CREATE TABLE crm_invoices (
		billing_invoice_id text PRIMARY KEY,
		billing_customer_id text NOT NULL,
		status text NOT NULL,
		total numeric(12,2) NOT NULL,
		is_paid boolean,
		source_updated_at timestamptz NOT NULL,
		synced_at timestamptz,
		sync_run_id text)`,
		// The index the README asks a PostgreSQL sink for: the drift check's count and the
		// overlap's version check read it alone.
		`CREATE INDEX ON crm_invoices (source_updated_at) INCLUDE (billing_invoice_id)`)
}

// apply recreates the demo namespace with the Secrets and the SyncJob.
func (d *pgDemo) apply(ctx context.Context) (*syncv1.SyncJob, error) {
	secrets := map[string]map[string]string{}
	for name, db := range map[string]string{"billing-db": "billing", "crm-db": "crm"} {
		secrets[name] = map[string]string{"dsn": fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=10",
			runnerRole, d.password, net.JoinHostPort(d.podHost, fmt.Sprint(d.port)), db)}
	}
	if err := d.freshNamespace(ctx, pgNamespace, secrets); err != nil {
		return nil, err
	}
	sj := &syncv1.SyncJob{}
	if err := yaml.UnmarshalStrict(syncJobYAML, sj); err != nil {
		return nil, fmt.Errorf("hack/demo/syncjob.yaml: %w", err)
	}
	sj.Namespace = pgNamespace
	if err := d.kube.Create(ctx, sj); err != nil {
		return nil, fmt.Errorf("create SyncJob %s: %w", sj.Name, err)
	}
	return sj, nil
}

// show prints the rows of a query on the CRM database.
func (d *pgDemo) show(ctx context.Context, q string) {
	fmt.Printf("\n$ psql -h 127.0.0.1 -p %d -U postgres crm -c %q\n", d.port, q)
	cmd := exec.CommandContext(ctx, "psql", "-X", "-h", "127.0.0.1", "-p", fmt.Sprint(d.port), "-U", "postgres", "-d", "crm", "-c", q)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "psql: %v\n", err)
	}
}

// superuser runs a statement as the superuser over loopback.
func (d *pgDemo) superuser(ctx context.Context, db, stmt string) error {
	return d.execAs(ctx, "postgres", db, stmt)
}

// exec runs statements as the runner role (the tables' owner) over loopback.
func (d *pgDemo) exec(ctx context.Context, db string, stmts ...string) error {
	for _, s := range stmts {
		if err := d.execAs(ctx, runnerRole, db, s); err != nil {
			return err
		}
	}
	return nil
}

func (d *pgDemo) execAs(ctx context.Context, user, db, stmt string) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, d.port, db))
	if err != nil {
		return fmt.Errorf("connect to %s as %s: %w", db, user, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", firstLine(stmt), err)
	}
	return nil
}
