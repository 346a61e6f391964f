package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// keysTarget is the target for full key reconciliation: ≤ 1.5 × reading both key
// sets with COPY.
const keysTarget = 1.5

// keysScenario measures full key reconciliation (spec.deletes.fullReconcile) of -rows keys,
// Postgres → Postgres, on its own tables (keys_invoices → crm_keys), with nothing to delete: a full load (untimed setup), then, -reps
// times alternating, the baseline (both key sets read with COPY ... TO STDOUT, discarded,
// on connections opened for it as psql opens them; the same on warm connections in the note)
// and `runner sync --full-reconcile` (a rerun with nothing new that ends with the merge of
// both key streams), first with equal key sets (the key digests are equal: no key is
// listed), then with one sink key the source lacks added before each run (the digests
// differ: both key sets are listed, merged, the key deleted). The runner's time includes
// the rerun and its process start; the note gives the reconciliation's own time (its log
// line) as well.
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

	for _, v := range []struct {
		name   string
		orphan bool
	}{{"full key reconcile", false}, {"full key reconcile, 1 key to delete", true}} {
		r, last, err := b.keysRuns(ctx, jf, state, v.orphan)
		if err != nil {
			return err
		}
		r.scenario = v.name
		if v.orphan {
			// Issue 9's target is the run with nothing to delete; this one shows the merge's cost.
			r.target, r.ok = "(shown, not judged)", nil
		}
		b.add(r, last) // also checks the peak RSS against rssTarget
	}
	if err := b.verify(ctx, "keys_invoices", "crm_keys"); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// keysRuns times -reps full key reconciliations against the COPY baseline, alternating.
// orphan: before each run, one row whose key the source lacks is added to the sink, so
// that the key digests differ and the run lists and merges both key sets and deletes it
// (the cost of the merge, which equal digests skip).
func (b *bench) keysRuns(ctx context.Context, jf, state string, orphan bool) (row, runResult, error) {
	o := b.o
	var walls, bases, warms, merges, cpus timings
	var rss int64
	var last runResult
	took := regexp.MustCompile(`"full key reconciliation done".*?"took":"([^"]+)"`)
	wantDeleted, by := int64(0), `"by":"equal key digests"`
	if orphan {
		wantDeleted, by = 1, "the key digests differ"
	}
	for i := 0; i < o.reps; i++ {
		if orphan {
			if _, err := b.dst.Exec(ctx, `INSERT INTO crm_keys (billing_invoice_id, status, total, source_updated_at) VALUES ($1, 'paid', 0, '2000-01-01Z')`,
				fmt.Sprintf("billing:orphan-%d", i)); err != nil {
				return row{}, last, fmt.Errorf("keys: add a sink key the source lacks: %w", err)
			}
		}
		if err := b.checkpoint(ctx); err != nil {
			return row{}, last, err
		}
		var n, m int64
		reads := func(src, dst *pgx.Conn) error {
			var err error
			if n, err = copyKeys(ctx, src, `COPY (SELECT id::text FROM keys_invoices) TO STDOUT`); err != nil {
				return err
			}
			m, err = copyKeys(ctx, dst, `COPY (SELECT billing_invoice_id FROM crm_keys) TO STDOUT`)
			return err
		}
		warm, err := timedWarm(b.src, b.dst, reads)
		if err != nil {
			return row{}, last, err
		}
		warms = append(warms, warm)
		if err := b.checkpoint(ctx); err != nil {
			return row{}, last, err
		}
		base, err := timedAsPsql(ctx, b.dial, reads)
		if err != nil {
			return row{}, last, err
		}
		bases = append(bases, base)
		if n != int64(o.rows) || m != int64(o.rows)+wantDeleted {
			return row{}, last, fmt.Errorf("keys baseline: read %d source and %d sink keys, want %d and %d", n, m, o.rows, int64(o.rows)+wantDeleted)
		}

		if err := b.printStatements(ctx, "keys baseline"); err != nil {
			return row{}, last, err
		}
		if err := b.checkpoint(ctx); err != nil {
			return row{}, last, err
		}
		res, err := b.runner.run(ctx, fmt.Sprintf("keys-%v-%d", orphan, i), "sync", "-f", jf, "--state-dir", state, "--full-reconcile")
		if err != nil {
			return row{}, last, err
		}
		if err := b.printStatements(ctx, "keys runner"); err != nil {
			return row{}, last, err
		}
		rec := res.Record
		if res.Exit != 0 || rec.Phase != "Succeeded" || rec.Deleted != wantDeleted || rec.Failed != 0 {
			return row{}, last, fmt.Errorf("keys: runner exit %d, phase %s, deleted %d (want %d), failed %d (%s: %s)",
				res.Exit, rec.Phase, rec.Deleted, wantDeleted, rec.Failed, rec.Reason, rec.Message)
		}
		mt := took.FindStringSubmatch(res.Stderr)
		if mt == nil || !strings.Contains(res.Stderr, by) {
			return row{}, last, fmt.Errorf("keys: the run did not log a full key reconciliation (%s)\nstderr (tail): %s", by, tailLines(res.Stderr, 10))
		}
		d, err := time.ParseDuration(mt[1])
		if err != nil {
			return row{}, last, err
		}
		walls = append(walls, res.Wall)
		cpus = append(cpus, res.CPU)
		merges = append(merges, d)
		rss = max(rss, res.MaxRSS)
		last = res
	}
	what := "digests alone"
	if orphan {
		what = "digests, merge and delete"
	}
	r := row{rows: int64(o.rows), wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(),
		note: strings.TrimPrefix(fmt.Sprintf("%s; reconciliation (%s) %.3fs (%.2f× baseline); on the bench's warm connections the baseline took %.3f s (ratio %.2f)",
			repsNote(walls, bases), what, merges.median().Seconds(), merges.median().Seconds()/bases.median().Seconds(),
			warms.median().Seconds(), pairedRatio(walls, warms)), "; ")}
	r.ratio = pairedRatio(walls, bases)
	r.target = fmt.Sprintf("≤ %.1f× COPY of both", keysTarget)
	r.ok = ptr(r.ratio <= keysTarget)
	return r, last, nil
}

// copyKeys runs a COPY ... TO STDOUT, discards its output and returns the rows copied.
func copyKeys(ctx context.Context, conn *pgx.Conn, sql string) (int64, error) {
	tag, err := conn.PgConn().CopyTo(ctx, io.Discard, sql)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", sql, err)
	}
	return tag.RowsAffected(), nil
}
