package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The drift check counts the records of its window on both sides at once, alongside the
// run's own reads. Where an index leads with the counted time column, such a count reads a
// bounded range of that index, and PostgreSQL's parallel workers cost more than they save:
// they start as processes and share the server's cores with the other count and the run
// (on a 2-core server, 146k index entries counted in 120–160 ms with two workers against
// 18–34 ms by the backend alone). Those counts run with parallel workers off, in their own
// transaction (SET LOCAL: the connection's settings are left as they were). A count
// without such an index scans the table, and is left to the server's own plan.

// serialSetting is the statement that turns parallel workers off for one transaction.
const serialSetting = "SET LOCAL max_parallel_workers_per_gather = 0"

// countSerially runs the count query q with parallel workers off (serialSetting).
func countSerially(ctx context.Context, pool *pgxpool.Pool, q string, args ...any) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, serialSetting); err != nil {
			return err
		}
		return tx.QueryRow(ctx, q, args...).Scan(&n)
	})
	return n, err
}

// leadIndexed remembers, once looked up, whether an index leads with a column.
type leadIndexed struct {
	once sync.Once
	ok   bool
}

// get looks up (the first time) whether a valid index of the relation relOID has column
// name as its first column; a failed lookup counts as none.
func (l *leadIndexed) get(ctx context.Context, pool *pgxpool.Pool, relOID uint32, name string) bool {
	l.once.Do(func() {
		err := pool.QueryRow(ctx, `
SELECT EXISTS (
  SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = $1 AND i.indisvalid AND i.indisready AND a.attname = $2)`, relOID, name).Scan(&l.ok)
		if err != nil {
			l.ok = false
		}
	})
	return l.ok
}
