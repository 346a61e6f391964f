package main

import (
	"context"
	"fmt"
	"strings"
)

// statementsSetting loads pg_stat_statements, for -statements.
const statementsSetting = "pg_stat_statements"

// enableStatements creates the pg_stat_statements view in the admin database.
func (b *bench) enableStatements(ctx context.Context) error {
	if _, err := b.admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return fmt.Errorf("create extension pg_stat_statements: %w", err)
	}
	return nil
}

// resetStatements forgets the statement statistics gathered so far (-statements only).
func (b *bench) resetStatements(ctx context.Context) error {
	if !b.o.statements {
		return nil
	}
	if _, err := b.admin.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return fmt.Errorf("reset pg_stat_statements: %w", err)
	}
	return nil
}

// printStatements prints the statements that took the most server time since the last
// reset (-statements only): where the server spent a step's time.
func (b *bench) printStatements(ctx context.Context, step string) error {
	if !b.o.statements {
		return nil
	}
	rows, err := b.admin.Query(ctx, `
SELECT d.datname, s.calls, s.total_exec_time, s.rows, regexp_replace(s.query, '\s+', ' ', 'g')
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname <> 'postgres'
ORDER BY s.total_exec_time DESC LIMIT 6`)
	if err != nil {
		return fmt.Errorf("read pg_stat_statements: %w", err)
	}
	defer rows.Close()
	fmt.Printf("  server time of %s:\n", step)
	for rows.Next() {
		var db, query string
		var calls, n int64
		var ms float64
		if err := rows.Scan(&db, &calls, &ms, &n, &query); err != nil {
			return fmt.Errorf("read pg_stat_statements: %w", err)
		}
		if len(query) > 110 {
			query = query[:110] + "…"
		}
		fmt.Printf("    %8.3fs %6d calls %9d rows  %-9s %s\n", ms/1000, calls, n, strings.TrimPrefix(db, "bench_"), query)
	}
	return rows.Err()
}
