package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// overlapTarget is the bound on a rerun with nothing new, drift check included.
const overlapTarget = 200 * time.Millisecond

// overlapFill fills source table %[1]s with $1 rows 10 ms apart (100 rows a second), so
// that the default 5-minute safety gap re-reads the last 30,000 of them.
const overlapFill = `INSERT INTO %[1]s (id, customer_id, status, total, updated_at)
SELECT g,
       'cus_' || lpad((g * 7919 %% 50000)::text, 5, '0'),
       (ARRAY['draft','open','paid','void'])[1 + g %% 4],
       round(((g * 104729) %% 10000000) / 100.0, 2),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '10 milliseconds'
FROM generate_series(1, $1::bigint) AS g`

// overlap measures a rerun with nothing new at the product's defaults (page size, safety
// gap 5m, drift check on: reconcile window 24h, sample 20) over a 30,000-row overlap: the
// source has -rows rows 10 ms apart, the sink its unique key and the one index the README
// asks for (source_updated_at, for the drift check's count). It loads once, then times
// -reruns reruns with the runner binary and inside the process (cli.Main). Each rerun
// must read the overlap, write nothing (upserted 0; every read record unchanged or of the
// same version), find no drift, and leave the checkpoint file as it was.
func (b *bench) overlap(ctx context.Context) error {
	o := b.o
	if o.rows < overlapRows {
		return fmt.Errorf("the overlap scenario needs -rows >= %d", overlapRows)
	}
	t0 := time.Now()
	src := pgx.Identifier{"invoices_overlap"}.Sanitize()
	if _, err := b.src.Exec(ctx, fmt.Sprintf(sourceDDL, src)); err != nil {
		return fmt.Errorf("create source table: %w", err)
	}
	if _, err := b.src.Exec(ctx, fmt.Sprintf(overlapFill, src), o.rows); err != nil {
		return fmt.Errorf("fill source table: %w", err)
	}
	if _, err := b.src.Exec(ctx, "CREATE INDEX ON "+src+" (updated_at, id)"); err != nil {
		return fmt.Errorf("index source table: %w", err)
	}
	if err := vacuum(ctx, b.src, "invoices_overlap"); err != nil {
		return err
	}
	if err := createSink(ctx, b.dst, "crm_overlap"); err != nil {
		return err
	}
	var overlap int64
	if err := b.src.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %[1]s WHERE updated_at >= (SELECT max(updated_at) FROM %[1]s) - interval '5 minutes'`, src)).
		Scan(&overlap); err != nil {
		return fmt.Errorf("count the overlap: %w", err)
	}
	fmt.Printf("generated %d source rows for the overlap rerun (%d in the last 5 minutes) in %.1fs\n", o.rows, overlap, time.Since(t0).Seconds())

	jf, err := jobFile(b.dir, "bench-overlap", "invoices_overlap", "crm_overlap", o.pageSize)
	if err != nil {
		return err
	}
	if err := dropPageSize(jf); err != nil {
		return err
	}
	state := b.state("overlap")
	load, err := b.runner.sync(ctx, "overlap-load", jf, state)
	if err != nil {
		return err
	}
	if err := expect("overlap, load", load, int64(o.rows), int64(o.rows), 0); err != nil {
		return err
	}
	if err := vacuum(ctx, b.dst, "crm_overlap"); err != nil {
		return err
	}
	before, err := os.ReadFile(filepath.Join(state, "checkpoint.json"))
	if err != nil {
		return err
	}
	var walls, inproc, cpus timings
	var last runResult
	for i := 0; i < o.reruns; i++ {
		for _, r := range []*runnerBin{&b.runner, &b.self} {
			if err := b.checkpoint(ctx); err != nil {
				return err
			}
			res, err := r.sync(ctx, fmt.Sprintf("overlap-%d", i), jf, state)
			if err != nil {
				return err
			}
			if err := checkOverlapRun(res, overlap); err != nil {
				return err
			}
			if r == &b.self {
				inproc = append(inproc, res.Elapsed)
				continue
			}
			if err := b.printStatements(ctx, fmt.Sprintf("overlap rerun %d", i)); err != nil {
				return err
			}
			walls, cpus, last = append(walls, res.Wall), append(cpus, res.CPU), res
		}
	}
	after, err := os.ReadFile(filepath.Join(state, "checkpoint.json"))
	if err != nil {
		return err
	}
	stored := "checkpoint rewritten"
	if string(after) == string(before) {
		stored = "checkpoint not rewritten"
	}
	wall := walls.median()
	b.add(row{scenario: "rerun, 30k overlap, drift", rows: last.Record.Read, wall: wall, cpu: cpus.median(), rss: last.MaxRSS,
		target: "≤ 0.20 s", ok: ptr(wall <= overlapTarget),
		note: fmt.Sprintf("median of %d (%s s); inside the process (cli.Main) %.3f s; upserted %d, same version %d; %s",
			len(walls), walls.spread(), inproc.median().Seconds(), last.Record.Upserted, last.Record.SameVersion, stored)}, last)
	return nil
}

// checkOverlapRun checks a rerun with nothing new: it read the overlap, wrote nothing,
// and its drift check sampled and found no drift.
func checkOverlapRun(res runResult, overlap int64) error {
	rec := res.Record
	if res.Exit != 0 || rec.Phase != "Succeeded" {
		return fmt.Errorf("overlap rerun: runner exit %d, phase %s (%s: %s)", res.Exit, rec.Phase, rec.Reason, rec.Message)
	}
	if rec.Read != overlap || rec.Upserted != 0 || rec.Failed != 0 || rec.Skipped != 0 || rec.Unchanged+rec.SameVersion != overlap {
		return fmt.Errorf("overlap rerun: read %d, upserted %d, unchanged %d, same version %d, skipped %d, failed %d; want %d, 0, unchanged + same version %d, 0, 0",
			rec.Read, rec.Upserted, rec.Unchanged, rec.SameVersion, rec.Skipped, rec.Failed, overlap, overlap)
	}
	if err := checkDriftRun(res, driftSample); err != nil {
		return fmt.Errorf("overlap rerun: %w", err)
	}
	return nil
}

// dropPageSize removes spec.pageSize from a job file: the product's default applies.
func dropPageSize(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var kept []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "  pageSize: ") {
			kept = append(kept, l)
		}
	}
	return os.WriteFile(path, []byte(strings.Join(kept, "\n")), 0o600)
}
