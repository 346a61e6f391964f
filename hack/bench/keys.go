package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// keysTarget is the target for full key reconciliation: ≤ 1.5 × reading both key
// sets with COPY.
const keysTarget = 1.5

// keysScenario measures full key reconciliation (spec.deletes.fullReconcile) of -rows keys,
// Postgres → Postgres, on its own tables (keys_invoices → crm_keys), with nothing to delete: a full load (untimed setup), then, -reps
// times alternating, the baseline (both key sets read with COPY ... TO STDOUT, discarded)
// and `runner sync --full-reconcile` (a rerun with nothing new that ends with the merge of
// both key streams). The runner's time includes the rerun and its process start; the note
// gives the reconciliation's own time (its log line) as well.
func (b *bench) keysScenario(ctx context.Context) error {
	o := b.o
	t0 := time.Now()
	if err := createSource(ctx, b.src, "keys_invoices", o.rows); err != nil {
		return err
	}
	if err := createSink(ctx, b.dst, "crm_keys"); err != nil {
		return err
	}
	jf, err := jobFile(b.dir, "bench-keys", "keys_invoices", "crm_keys", o.pageSize)
	if err != nil {
		return err
	}
	jobText, err := os.ReadFile(jf)
	if err != nil {
		return err
	}
	jobText = append(jobText, "  deletes: {mode: Delete, fullReconcile: {everyRuns: 1000000}}\n"...)
	if err := os.WriteFile(jf, jobText, 0o600); err != nil {
		return err
	}
	state := b.state("keys")
	res, err := b.runner.sync(ctx, "keys-load", jf, state)
	if err != nil {
		return err
	}
	if err := expect("keys: full load", res, int64(o.rows), int64(o.rows), 0); err != nil {
		return err
	}
	if err := vacuum(ctx, b.dst, "crm_keys"); err != nil {
		return err
	}
	fmt.Printf("generated and loaded %d rows in %.1fs\n", o.rows, time.Since(t0).Seconds())

	var walls, bases, merges, cpus timings
	var rss int64
	var last runResult
	took := regexp.MustCompile(`"full key reconciliation done".*?"took":"([^"]+)"`)
	for i := 0; i < o.reps; i++ {
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		start := time.Now()
		n, err := copyKeys(ctx, b.src, `COPY (SELECT id::text FROM keys_invoices) TO STDOUT`)
		if err != nil {
			return err
		}
		m, err := copyKeys(ctx, b.dst, `COPY (SELECT billing_invoice_id FROM crm_keys) TO STDOUT`)
		if err != nil {
			return err
		}
		bases = append(bases, time.Since(start))
		if n != int64(o.rows) || m != int64(o.rows) {
			return fmt.Errorf("keys baseline: read %d source and %d sink keys, want %d", n, m, o.rows)
		}

		if err := b.printStatements(ctx, "keys baseline"); err != nil {
			return err
		}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		res, err := b.runner.run(ctx, fmt.Sprintf("keys-%d", i), "sync", "-f", jf, "--state-dir", state, "--full-reconcile")
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "keys runner"); err != nil {
			return err
		}
		rec := res.Record
		if res.Exit != 0 || rec.Phase != "Succeeded" || rec.Deleted != 0 || rec.Failed != 0 {
			return fmt.Errorf("keys: runner exit %d, phase %s, deleted %d, failed %d (%s: %s)", res.Exit, rec.Phase, rec.Deleted, rec.Failed, rec.Reason, rec.Message)
		}
		mt := took.FindStringSubmatch(res.Stderr)
		if mt == nil {
			return fmt.Errorf("keys: the run did not log a full key reconciliation\nstderr (tail): %s", tailLines(res.Stderr, 10))
		}
		d, err := time.ParseDuration(mt[1])
		if err != nil {
			return err
		}
		walls = append(walls, res.Wall)
		cpus = append(cpus, res.CPU)
		merges = append(merges, d)
		rss = max(rss, res.MaxRSS)
		last = res
	}
	if err := b.verify(ctx, "keys_invoices", "crm_keys"); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	r := row{scenario: "full key reconcile", rows: int64(o.rows), wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(),
		note: fmt.Sprintf("%s; merge alone %.3fs (%.2f× baseline)", repsNote(walls, bases), merges.median().Seconds(),
			merges.median().Seconds()/bases.median().Seconds())}
	r.ratio = pairedRatio(walls, bases)
	r.target = fmt.Sprintf("≤ %.1f× COPY of both", keysTarget)
	r.ok = ptr(r.ratio <= keysTarget)
	b.add(r, last) // also checks the peak RSS against rssTarget
	return nil
}

// copyKeys runs a COPY ... TO STDOUT, discards its output and returns the rows copied.
func copyKeys(ctx context.Context, conn *pgx.Conn, sql string) (int64, error) {
	tag, err := conn.PgConn().CopyTo(ctx, io.Discard, sql)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", sql, err)
	}
	return tag.RowsAffected(), nil
}
