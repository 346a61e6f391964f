// Package synctest holds what the runner's integration tests and the end-to-end tests share
// to look into PostgreSQL: run statements, read one value, and compare a sink with its
// source by fingerprint. Every helper fails the test on error.
package synctest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Exec runs the statements in the database at dsn, in order.
func Exec(tb testing.TB, dsn string, stmts ...string) {
	tb.Helper()
	withConn(tb, dsn, func(ctx context.Context, conn *pgx.Conn) {
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				tb.Fatalf("%s: %v", s, err)
			}
		}
	})
}

// Scan reads the one row of q into dest.
func Scan(tb testing.TB, dsn, q string, args []any, dest ...any) {
	tb.Helper()
	withConn(tb, dsn, func(ctx context.Context, conn *pgx.Conn) {
		if err := conn.QueryRow(ctx, q, args...).Scan(dest...); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	})
}

// Int returns the integer q selects.
func Int(tb testing.TB, dsn, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	Scan(tb, dsn, q, args, &n)
	return n
}

// String returns the text q selects.
func String(tb testing.TB, dsn, q string, args ...any) string {
	tb.Helper()
	var s string
	Scan(tb, dsn, q, args, &s)
	return s
}

// Fingerprints of the tests' invoices source and CRM sink: the row count and an md5 over
// every row's key and mapped fields in key order. Equal fingerprints mean the sink holds
// exactly the mapped source: nothing missing, nothing extra or duplicated, every field as
// mapped (key "billing:<id>", customer, status, total, source updatedAt).
const (
	SourceFingerprint = `SELECT count(*), coalesce(md5(string_agg(k || '|' || customer_id || '|' || status || '|' || total::numeric(12,2)::text || '|' || updated_at::text, ',' ORDER BY k COLLATE "C")), '')
		FROM (SELECT 'billing:' || id AS k, * FROM invoices) s`
	SinkFingerprint = `SELECT count(*), coalesce(md5(string_agg(billing_invoice_id || '|' || billing_customer_id || '|' || status || '|' || total::text || '|' || source_updated_at::text, ',' ORDER BY billing_invoice_id COLLATE "C")), '')
		FROM crm_invoices`
)

// Fingerprint runs SourceFingerprint or SinkFingerprint.
func Fingerprint(tb testing.TB, dsn, q string) (int64, string) {
	tb.Helper()
	var n int64
	var sum string
	Scan(tb, dsn, q, nil, &n, &sum)
	return n, sum
}

func withConn(tb testing.TB, dsn string, fn func(context.Context, *pgx.Conn)) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	fn(ctx, conn)
}
