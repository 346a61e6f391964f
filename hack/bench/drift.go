package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// driftTarget is the bound on what the drift check's sample of 20 records adds to
// a run against local PostgreSQL.
const driftTarget = 200 * time.Millisecond

// driftSample is the sample size measured (the product's default).
const driftSample = 20

// drift measures what the drift check adds to a run: on one source and sink (-rows rows,
// loaded once), it alternates reruns with nothing new of the same SyncJob with
// reconcile.sample 20 and 0, -reruns times each, sharing one checkpoint, and reports the
// median of the paired differences (each sample-20 run minus the sample-0 run just
// before it), with the runner binary and inside the process (cli.Main); the in-process
// difference, free of process start-up noise, is held against the 0.2 s target. Every sample-20 run must have sampled 20 records and found no drift; every
// sample-0 run must have no drift check at all.
func (b *bench) drift(ctx context.Context) error {
	o := b.o
	t0 := time.Now()
	if err := createSource(ctx, b.src, "invoices_drift", o.rows); err != nil {
		return err
	}
	if err := createSink(ctx, b.dst, "crm_drift"); err != nil {
		return err
	}
	fmt.Printf("generated %d source rows for the drift check in %.1fs\n", o.rows, time.Since(t0).Seconds())
	jobs := map[int]string{}
	for _, sample := range []int{0, driftSample} {
		jf, err := jobFile(b.dir, fmt.Sprintf("bench-drift-%d", sample), "invoices_drift", "crm_drift", o.pageSize)
		if err != nil {
			return err
		}
		// One SyncJob name for both files: they share the checkpoint.
		if err := rewriteJob(jf, "bench-drift", fmt.Sprintf("  reconcile: {window: 24h, sample: %d}\n", sample)); err != nil {
			return err
		}
		jobs[sample] = jf
	}
	state := b.state("drift")
	if err := os.RemoveAll(state); err != nil {
		return err
	}
	load, err := b.runner.sync(ctx, "drift-load", jobs[0], state)
	if err != nil {
		return err
	}
	if err := expect("drift check, load", load, int64(o.rows), int64(o.rows), 0); err != nil {
		return err
	}

	var with, without, diffs, inDiffs timings
	var last runResult
	for i := 0; i < o.reruns; i++ {
		var pair [2]runResult
		var inPair [2]runResult
		for k, sample := range []int{0, driftSample} {
			if err := b.checkpoint(ctx); err != nil {
				return err
			}
			res, err := b.runner.sync(ctx, fmt.Sprintf("drift-%d-%d", sample, i), jobs[sample], state)
			if err != nil {
				return err
			}
			if err := checkDriftRun(res, sample); err != nil {
				return err
			}
			in, err := b.self.sync(ctx, "", jobs[sample], state)
			if err != nil {
				return err
			}
			if err := checkDriftRun(in, sample); err != nil {
				return err
			}
			pair[k], inPair[k] = res, in
		}
		without, with = append(without, pair[0].Wall), append(with, pair[1].Wall)
		diffs = append(diffs, pair[1].Wall-pair[0].Wall)
		inDiffs = append(inDiffs, inPair[1].Elapsed-inPair[0].Elapsed)
		last = pair[1]
	}
	diff := medianSigned(diffs)
	inDiff := medianSigned(inDiffs)
	fmt.Printf("drift check: sample %d adds %+.3f s to a rerun (median of %d paired differences; runner %.3f s vs %.3f s), %+.3f s inside the process\n",
		driftSample, diff.Seconds(), len(diffs), with.median().Seconds(), without.median().Seconds(), inDiff.Seconds())
	b.add(row{scenario: fmt.Sprintf("drift sample %d vs 0", driftSample), rows: last.Record.Read, wall: with.median(), base: without.median(),
		ratio: with.median().Seconds() / without.median().Seconds(), target: "≤ +0.20 s", ok: ptr(inDiff <= driftTarget),
		note: fmt.Sprintf("adds %+.3f s (median of %d paired differences); inside the process %+.3f s (cli.Main)", diff.Seconds(), len(diffs), inDiff.Seconds())}, last)
	return nil
}

// checkDriftRun checks a rerun's drift check: sampled and in step with sample > 0, absent
// with sample 0.
func checkDriftRun(res runResult, sample int) error {
	if res.Exit != 0 || res.Record.Phase != "Succeeded" {
		return fmt.Errorf("drift check, sample %d: runner exit %d, phase %s (%s: %s)", sample, res.Exit, res.Record.Phase, res.Record.Reason, res.Record.Message)
	}
	rc := res.Record.Reconciliation
	switch {
	case sample == 0 && rc != nil:
		return fmt.Errorf("drift check, sample 0: a reconciliation was reported")
	case sample > 0 && rc == nil:
		return fmt.Errorf("drift check, sample %d: no reconciliation reported", sample)
	case sample > 0 && (rc.Sampled != int64(sample) || rc.Drift || rc.Uncounted):
		return fmt.Errorf("drift check, sample %d: sampled %d, drift %t, uncounted %t (source %d, sink %d, mismatched %d)",
			sample, rc.Sampled, rc.Drift, rc.Uncounted, rc.SourceCount, rc.SinkCount, rc.Mismatched)
	}
	return nil
}

// rewriteJob renames the SyncJob of a job file and appends extra lines under spec.
func rewriteJob(path, name, extra string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  name: ") {
			lines[i] = "  name: " + name
			break
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+extra), 0o600)
}

// medianSigned is the median of durations that may be negative.
func medianSigned(t timings) time.Duration {
	s := slices.Clone(t)
	slices.Sort(s)
	return s[len(s)/2]
}
