package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// overlapTarget is the bound on a rerun with nothing new, drift check included.
const overlapTarget = 200 * time.Millisecond

// overlap measures a rerun with nothing new at the product's defaults (page size, safety
// gap 5m, drift check on: reconcile window 24h, sample 20) over a 30,000-row overlap, on
// the incremental scenarios' user-shaped data (createUserSource: text ids in random order
// relative to time, a history a second apart, then the last 60,000 rows 10 ms apart, so
// the 24-hour drift window holds the recent part of the table, not all of it) and the
// sample SyncJob (userJobFile). The sink has the sample's columns, its unique key and the
// one index the README asks for (createUserSink: source_updated_at, the drift check's
// count and the overlap's range read of stored versions). It loads once, then times -reruns reruns
// with the runner binary and inside the process (cli.Main). Each rerun must read the
// overlap, write nothing (upserted 0; every read record unchanged or of the same version),
// find no drift, and leave the checkpoint file as it was.
func (b *bench) overlap(ctx context.Context) error {
	o := b.o
	if o.rows < denseRows {
		return fmt.Errorf("the overlap scenario needs -rows >= %d", denseRows)
	}
	t0 := time.Now()
	const srcTable, dstTable = "invoices_overlap", "crm_overlap"
	if err := createUserSource(ctx, b.src, srcTable, o.rows); err != nil {
		return err
	}
	if err := createUserSink(ctx, b.dst, dstTable); err != nil {
		return err
	}
	top, err := maxUpdatedAt(ctx, b.src, srcTable)
	if err != nil {
		return err
	}
	overlap, err := countSince(ctx, b.src, srcTable, top.Add(-safetyGap))
	if err != nil {
		return err
	}
	window, err := countSince(ctx, b.src, srcTable, top.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	fmt.Printf("generated %d source rows for the overlap rerun (%d in the last 5 minutes, %d in the 24-hour drift window) in %.1fs\n",
		o.rows, overlap, window, time.Since(t0).Seconds())

	jf, err := userJobFile(b.dir, "bench-overlap", srcTable, dstTable, 0)
	if err != nil {
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
	if err := b.verifyUser(ctx, srcTable, dstTable); err != nil {
		return fmt.Errorf("overlap, load: %w", err)
	}
	if err := vacuum(ctx, b.dst, dstTable); err != nil {
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
		note: fmt.Sprintf("median of %d (%s s); inside the process (cli.Main) %.3f s; upserted %d, same version %d; %s; user-shaped data, sink indexed on source_updated_at, drift window %d rows",
			len(walls), walls.spread(), inproc.median().Seconds(), last.Record.Upserted, last.Record.SameVersion, stored, window)}, last)
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
