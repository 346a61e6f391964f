package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// baselineRunID is the run id the baseline stamps on the rows it writes.
const baselineRunID = "baseline"

// baselinePage is the rows per transaction of the page-wise baseline.
const baselinePage = 10_000

// baselineResult is one run of the raw baseline.
type baselineResult struct {
	Rows    int64 // rows copied from the source
	Written int64 // rows the merge inserted or updated
	Wall    time.Duration
	How     string // "one merge" or "paged"
}

// baseline is what the runner is compared with: the faster of two raw ways of doing the
// runner's work, each run once (baselineMerge and baselinePaged). Both read the source rows
// in (updated_at, id) order with COPY (SELECT … ORDER BY …) TO STDOUT, as a psql pipe
// would, and write the sink's columns as the runner does (key, values, source_updated_at,
// synced_at, the run id) under the runner's guards: a stored newer source version is kept
// (the stale-write guard) and an unchanged row is not rewritten (IS DISTINCT FROM). They
// have none of the runner's duties: no checkpoint, no per-record outcome, no mapping
// beyond SQL, no drift check.
//
// Each writes its own sink table (dst[0] for the one merge, dst[1] for the pages), so
// that both start from the same state; the caller truncates or verifies both. since, when
// not zero, restricts the source rows to updated_at >= since (an incremental run). Each
// opens its own connections with d, as a psql pipe does, and its time includes them.
func baseline(ctx context.Context, d dialer, srcTable string, dstTables [2]string, since time.Time) (baselineResult, error) {
	one, err := baselineMerge(ctx, d, srcTable, dstTables[0], since)
	if err != nil {
		return one, err
	}
	paged, err := baselinePaged(ctx, d, srcTable, dstTables[1], since)
	if err != nil {
		return paged, err
	}
	if one.Rows != paged.Rows || one.Written != paged.Written {
		return one, fmt.Errorf("baseline: one merge copied %d and wrote %d rows, the pages %d and %d", one.Rows, one.Written, paged.Rows, paged.Written)
	}
	if paged.Wall < one.Wall {
		return paged, nil
	}
	return one, nil
}

// baselineSQL returns the COPY out of the source and the merge from the stage table.
func baselineSQL(srcTable, dstTable string, since time.Time) (copyOut, stage, merge string) {
	st, dt := pgx.Identifier{srcTable}.Sanitize(), pgx.Identifier{dstTable}.Sanitize()
	where := ""
	if !since.IsZero() {
		// A literal, not a parameter: COPY takes none.
		where = fmt.Sprintf(" WHERE updated_at >= '%s'::timestamptz", since.UTC().Format("2006-01-02 15:04:05.999999Z07:00"))
	}
	copyOut = fmt.Sprintf(`COPY (SELECT id, updated_at, customer_id, status, total FROM %s%s ORDER BY updated_at, id COLLATE "C") TO STDOUT`, st, where)
	stage = `CREATE TEMP TABLE IF NOT EXISTS bench_stage (k text, u timestamptz, customer_id text, status text, total numeric(12,2)) ON COMMIT DELETE ROWS`
	merge = fmt.Sprintf(`INSERT INTO %s AS t (billing_invoice_id, source_updated_at, billing_customer_id, status, total, is_paid, synced_at, sync_run_id)
SELECT k, u, customer_id, status, total, status = 'paid', now(), '%s' FROM bench_stage
ON CONFLICT (billing_invoice_id) DO UPDATE SET
  source_updated_at = EXCLUDED.source_updated_at, billing_customer_id = EXCLUDED.billing_customer_id,
  status = EXCLUDED.status, total = EXCLUDED.total, is_paid = EXCLUDED.is_paid,
  synced_at = EXCLUDED.synced_at, sync_run_id = EXCLUDED.sync_run_id
WHERE (t.source_updated_at IS NULL OR t.source_updated_at <= EXCLUDED.source_updated_at)
  AND (t.source_updated_at, t.billing_customer_id, t.status, t.total, t.is_paid)
      IS DISTINCT FROM (EXCLUDED.source_updated_at, EXCLUDED.billing_customer_id, EXCLUDED.status, EXCLUDED.total, EXCLUDED.is_paid)`, dt, baselineRunID)
	return copyOut, stage, merge
}

// baselineMerge is (a): the source's rows streamed with COPY … TO STDOUT straight into
// COPY … FROM STDIN of a temporary table on the sink, then one INSERT … ON CONFLICT, all
// in one sink transaction.
func baselineMerge(ctx context.Context, d dialer, srcTable, dstTable string, since time.Time) (baselineResult, error) {
	res := baselineResult{How: "one merge"}
	copyOut, stage, merge := baselineSQL(srcTable, dstTable, since)
	start := time.Now()
	src, dst, done, err := d.pair(ctx)
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	defer done()
	tx, err := dst.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("baseline: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, stage); err != nil {
		return res, fmt.Errorf("baseline: create stage table: %w", err)
	}

	pr, copied := copyOutPipe(ctx, src, copyOut, &res.Rows)
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

// baselinePaged is (b): one COPY … TO STDOUT of the source, cut into pages of
// baselinePage rows, each page copied into the temporary table and merged in its own
// sink transaction (a commit per page, as the runner does), while the source stream
// goes on.
func baselinePaged(ctx context.Context, d dialer, srcTable, dstTable string, since time.Time) (baselineResult, error) {
	res := baselineResult{How: "paged"}
	copyOut, stage, merge := baselineSQL(srcTable, dstTable, since)
	start := time.Now()
	src, dst, done, err := d.pair(ctx)
	if err != nil {
		return res, fmt.Errorf("baseline (paged): %w", err)
	}
	defer done()
	if _, err := dst.Exec(ctx, stage); err != nil {
		return res, fmt.Errorf("baseline: create stage table: %w", err)
	}
	pr, copied := copyOutPipe(ctx, src, copyOut, &res.Rows)
	writeErr := func() error {
		in := bufio.NewReaderSize(pr, 1<<16)
		var page bytes.Buffer
		rows := 0
		flush := func() error {
			if rows == 0 {
				return nil
			}
			tx, err := dst.Begin(ctx)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
			if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(page.Bytes()), "COPY bench_stage FROM STDIN"); err != nil {
				return fmt.Errorf("copy into stage table: %w", err)
			}
			tag, err := tx.Exec(ctx, merge)
			if err != nil {
				return fmt.Errorf("merge into %s: %w", dstTable, err)
			}
			res.Written += tag.RowsAffected()
			page.Reset()
			rows = 0
			return tx.Commit(ctx)
		}
		for {
			// COPY's text format escapes newlines inside values: a line is a row.
			line, err := in.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				page.Write(line)
				continue
			}
			if len(line) > 0 {
				page.Write(line)
				if line[len(line)-1] == '\n' {
					rows++
				}
			}
			if err == io.EOF {
				return flush()
			}
			if err != nil {
				return err
			}
			if rows == baselinePage {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}()
	_ = pr.CloseWithError(io.ErrClosedPipe) // unblocks the writer if the pages stopped early
	if outErr := <-copied; outErr != nil {
		return res, fmt.Errorf("baseline (paged): copy out of %s: %w", srcTable, outErr)
	}
	if writeErr != nil {
		return res, fmt.Errorf("baseline (paged): %w", writeErr)
	}
	res.Wall = time.Since(start)
	return res, nil
}

// copyOutPipe runs the COPY … TO STDOUT query copyOut on src in the background into the
// returned pipe; the channel yields its error once it ended, after *rows holds the count
// of rows copied. The reader must be closed when its consumer stops early.
func copyOutPipe(ctx context.Context, src *pgx.Conn, copyOut string, rows *int64) (*io.PipeReader, <-chan error) {
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		tag, err := src.PgConn().CopyTo(ctx, pw, copyOut)
		*rows = tag.RowsAffected()
		pw.CloseWithError(err)
		copied <- err
	}()
	return pr, copied
}
