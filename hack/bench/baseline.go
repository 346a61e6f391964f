package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// baselineResult is one run of the raw baseline.
type baselineResult struct {
	Rows    int64 // rows copied from the source
	Written int64 // rows the merge inserted or updated
	Wall    time.Duration
}

// baseline is what the runner is compared with: the rows of the source table in
// (updated_at, id) order, streamed with COPY ... TO STDOUT straight into COPY ... FROM
// STDIN of a temporary table on the sink, then one INSERT ... ON CONFLICT ... DO UPDATE
// guarded by source_updated_at and skipping unchanged rows, all in one sink transaction.
// It has none of the runner's duties: no paging, no checkpoint, no per-record outcome, no
// mapping beyond SQL.
//
// since, when not zero, restricts the source rows to updated_at >= since (an incremental
// run). The connections are opened by the caller and not timed.
func baseline(ctx context.Context, src, dst *pgx.Conn, srcTable, dstTable string, since time.Time) (baselineResult, error) {
	var res baselineResult
	st, dt := pgx.Identifier{srcTable}.Sanitize(), pgx.Identifier{dstTable}.Sanitize()
	where := ""
	if !since.IsZero() {
		// A literal, not a parameter: COPY takes none.
		where = fmt.Sprintf(" WHERE updated_at >= '%s'::timestamptz", since.UTC().Format("2006-01-02 15:04:05.999999Z07:00"))
	}
	copyOut := fmt.Sprintf(`COPY (SELECT 'billing:' || id::text, updated_at, customer_id, status, total FROM %s%s ORDER BY updated_at, id) TO STDOUT`, st, where)
	merge := fmt.Sprintf(`INSERT INTO %s AS t (billing_invoice_id, source_updated_at, customer_id, status, total)
SELECT k, u, customer_id, status, total FROM bench_stage
ON CONFLICT (billing_invoice_id) DO UPDATE SET
  source_updated_at = EXCLUDED.source_updated_at, customer_id = EXCLUDED.customer_id,
  status = EXCLUDED.status, total = EXCLUDED.total
WHERE t.source_updated_at <= EXCLUDED.source_updated_at
  AND (t.customer_id, t.status, t.total) IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.status, EXCLUDED.total)`, dt)

	start := time.Now()
	tx, err := dst.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("baseline: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE bench_stage (k text, u timestamptz, customer_id text, status text, total numeric(12,2)) ON COMMIT DROP`); err != nil {
		return res, fmt.Errorf("baseline: create stage table: %w", err)
	}

	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		tag, err := src.PgConn().CopyTo(ctx, pw, copyOut)
		res.Rows = tag.RowsAffected()
		pw.CloseWithError(err)
		copied <- err
	}()
	_, inErr := tx.Conn().PgConn().CopyFrom(ctx, pr, "COPY bench_stage FROM STDIN")
	_ = pr.CloseWithError(io.ErrClosedPipe) // unblocks the writer if COPY FROM stopped early
	if outErr := <-copied; outErr != nil {
		return res, fmt.Errorf("baseline: copy out of %s: %w", srcTable, outErr)
	}
	if inErr != nil {
		return res, fmt.Errorf("baseline: copy into stage table: %w", inErr)
	}
	tag, err := tx.Exec(ctx, merge)
	if err != nil {
		return res, fmt.Errorf("baseline: merge into %s: %w", dstTable, err)
	}
	res.Written = tag.RowsAffected()
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("baseline: commit: %w", err)
	}
	res.Wall = time.Since(start)
	return res, nil
}
