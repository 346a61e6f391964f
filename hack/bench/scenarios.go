package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// timings are the wall times of the repetitions of one step.
type timings []time.Duration

func (t timings) median() time.Duration {
	s := slices.Clone(t)
	slices.Sort(s)
	return s[len(s)/2]
}

// spread renders the range of the repetitions, or "" for a single one.
func (t timings) spread() string {
	if len(t) < 2 {
		return ""
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(t).Seconds(), slices.Max(t).Seconds())
}

// scenarios runs everything in order; each step depends on the sink state the previous
// one left.
func (b *bench) scenarios(ctx context.Context) error {
	o := b.o
	if !o.selected["incremental"] {
		return b.others(ctx)
	}
	t0 := time.Now()
	if err := createSource(ctx, b.src, "invoices_small", o.small); err != nil {
		return err
	}
	if err := createSource(ctx, b.src, "invoices", o.rows); err != nil {
		return err
	}
	sinks := []string{"crm_small_base", "crm_small", "crm_base", "crm_invoices"}
	if o.altPageSize > 0 {
		sinks = append(sinks, "crm_alt")
	}
	for _, t := range sinks {
		if err := createSink(ctx, b.dst, t); err != nil {
			return err
		}
	}
	fmt.Printf("generated %d + %d source rows in %.1fs\n", o.small, o.rows, time.Since(t0).Seconds())

	small, err := b.fullLoad(ctx, loadSpec{name: "full load", job: "small", src: "invoices_small", dst: "crm_small", base: "crm_small_base",
		pageSize: o.pageSize, rows: int64(o.small), reps: o.reps})
	if err != nil {
		return err
	}
	big, err := b.fullLoad(ctx, loadSpec{name: "full load", job: "main", src: "invoices", dst: "crm_invoices", base: "crm_base",
		pageSize: o.pageSize, rows: int64(o.rows), reps: o.reps, target: fullLoadTarget})
	if err != nil {
		return err
	}
	b.memoryRow(small, big)
	if o.altPageSize > 0 {
		if _, err := b.fullLoad(ctx, loadSpec{name: fmt.Sprintf("full load, page %d", o.altPageSize), job: "alt", src: "invoices", dst: "crm_alt",
			pageSize: o.altPageSize, rows: int64(o.rows), reps: 1, target: fullLoadTarget}); err != nil {
			return err
		}
	}
	if err := b.rerun(ctx); err != nil {
		return err
	}
	if err := b.reupsert(ctx); err != nil {
		return err
	}
	if err := b.changed(ctx); err != nil {
		return err
	}
	return b.others(ctx)
}

// others runs the selected scenarios that set up their own tables, after the incremental
// ones: drift, keys, snapshot.
func (b *bench) others(ctx context.Context) error {
	steps := []struct {
		name string
		run  func(context.Context) error
	}{{"drift", b.drift}, {"keys", b.keysScenario}, {"snapshot", b.snapshot}}
	for _, st := range steps {
		if !b.o.selected[st.name] {
			continue
		}
		if err := st.run(ctx); err != nil {
			return fmt.Errorf("scenario %s: %w", st.name, err)
		}
	}
	return nil
}

// loadSpec describes a full-load scenario.
type loadSpec struct {
	name     string
	job      string // SyncJob name suffix and state directory
	src, dst string // source and runner sink tables
	base     string // baseline sink table; "" reuses the main full load's baseline times
	pageSize int
	rows     int64
	reps     int
	target   float64 // 0: no target
}

// fullLoad loads the source into empty sink tables, alternating baseline and runner for
// each repetition, and verifies every load. It returns the runner's largest peak RSS.
func (b *bench) fullLoad(ctx context.Context, l loadSpec) (int64, error) {
	var walls, bases timings
	var rss int64
	var last runResult
	var cpus timings
	jf, err := jobFile(b.dir, "bench-"+l.job, l.src, l.dst, l.pageSize)
	if err != nil {
		return 0, err
	}
	for i := 0; i < l.reps; i++ {
		if l.base != "" {
			if err := b.truncate(ctx, l.base); err != nil {
				return 0, err
			}
			if err := b.checkpoint(ctx); err != nil {
				return 0, err
			}
			br, err := baseline(ctx, b.src, b.dst, l.src, l.base, time.Time{})
			if err != nil {
				return 0, err
			}
			if err := b.printStatements(ctx, l.name+" baseline"); err != nil {
				return 0, err
			}
			if br.Rows != l.rows || br.Written != l.rows {
				return 0, fmt.Errorf("%s baseline: copied %d, wrote %d rows, want %d", l.name, br.Rows, br.Written, l.rows)
			}
			if err := b.verify(ctx, l.src, l.base); err != nil {
				return 0, fmt.Errorf("%s baseline: %w", l.name, err)
			}
			if err := vacuum(ctx, b.dst, l.base); err != nil {
				return 0, err
			}
			bases = append(bases, br.Wall)
		}

		if err := b.truncate(ctx, l.dst); err != nil {
			return 0, err
		}
		if err := os.RemoveAll(b.state(l.job)); err != nil {
			return 0, err
		}
		if err := b.checkpoint(ctx); err != nil {
			return 0, err
		}
		res, err := b.runner.sync(ctx, fmt.Sprintf("%s-%s-%d", strings.ReplaceAll(l.name, " ", "-"), l.job, i), jf, b.state(l.job))
		if err != nil {
			return 0, err
		}
		if err := b.printStatements(ctx, l.name+" runner"); err != nil {
			return 0, err
		}
		if err := expect(l.name, res, l.rows, l.rows, 0); err != nil {
			return 0, err
		}
		if err := b.verify(ctx, l.src, l.dst); err != nil {
			return 0, fmt.Errorf("%s: %w", l.name, err)
		}
		if err := vacuum(ctx, b.dst, l.dst); err != nil {
			return 0, err
		}
		walls = append(walls, res.Wall)
		rss = max(rss, res.MaxRSS)
		cpus = append(cpus, res.CPU)
		last = res
	}
	if l.base != "" && l.job == "main" {
		b.mainBase = bases
	}
	if l.base == "" {
		bases = b.mainBase
	}
	r := row{scenario: l.name, rows: l.rows, wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(),
		note: repsNote(walls, bases)}
	r.ratio = pairedRatio(walls, bases)
	if l.base == "" {
		r.note = strings.TrimPrefix(r.note+"; baseline of the main full load", "; ")
	}
	if l.target > 0 {
		r.target = fmt.Sprintf("≤ %.1f× baseline", l.target)
		r.ok = ptr(r.ratio <= l.target)
	}
	b.add(r, last)
	return rss, nil
}

// repsNote describes the repetitions behind a median.
func repsNote(walls, bases timings) string {
	if len(walls) < 2 {
		return ""
	}
	s := fmt.Sprintf("median of %d: runner %s s", len(walls), walls.spread())
	if len(bases) > 1 {
		s += fmt.Sprintf(", baseline %s s, best-of ratio %.2f", bases.spread(), slices.Min(walls).Seconds()/slices.Min(bases).Seconds())
	}
	return s
}

// memoryRow compares the peak RSS of the small and the main full load.
func (b *bench) memoryRow(small, big int64) {
	spread := float64(big-small) / float64(small)
	b.results = append(b.results, row{
		scenario: "peak RSS, small → main",
		rss:      max(small, big),
		target:   fmt.Sprintf("≤ 64 MiB, Δ ≤ %.0f%%", rssSpreadTarget*100),
		ok:       ptr(small <= rssTarget && big <= rssTarget && spread <= rssSpreadTarget && spread >= -rssSpreadTarget),
		note:     fmt.Sprintf("%d rows %.1f MiB → %d rows %.1f MiB (%+.1f%%)", b.o.small, mib(small), b.o.rows, mib(big), 100*spread),
	})
}

// rerun runs the main job again with nothing new, several times, with the runner binary
// and with this binary as the runner (to time cli.Main without the process start).
func (b *bench) rerun(ctx context.Context) error {
	jf := filepath.Join(b.dir, "bench-main.yaml")
	var walls, inproc timings
	var rss int64
	var last runResult
	var cpus timings
	for i := 0; i < b.o.reruns; i++ {
		res, err := b.runner.sync(ctx, fmt.Sprintf("rerun-%d", i), jf, b.state("main"))
		if err != nil {
			return err
		}
		if err := expect("rerun", res, groupSize, 0, groupSize); err != nil {
			return err
		}
		walls = append(walls, res.Wall)
		rss = max(rss, res.MaxRSS)
		cpus = append(cpus, res.CPU)
		last = res
		in, err := b.self.sync(ctx, "", jf, b.state("main"))
		if err != nil {
			return err
		}
		if err := expect("rerun (in-process)", in, groupSize, 0, groupSize); err != nil {
			return err
		}
		inproc = append(inproc, in.Elapsed)
	}
	wall := walls.median()
	b.add(row{scenario: "rerun, nothing new", rows: last.Record.Read, wall: wall, cpu: cpus.median(), rss: rss,
		target: "≤ 0.10 s", ok: ptr(wall <= rerunTarget),
		note: fmt.Sprintf("median of %d (%s s); inside the process (cli.Main) %.3f s", len(walls), walls.spread(), inproc.median().Seconds())}, last)
	return nil
}

// reupsert resets the main job's checkpoint and runs it: every row is re-read and
// unchanged. The baseline is the skip-unchanged merge of every row into its full table.
func (b *bench) reupsert(ctx context.Context) error {
	n := int64(b.o.rows)
	var walls, bases timings
	var rss int64
	var last runResult
	var cpus timings
	for i := 0; i < b.o.reps; i++ {
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		br, err := baseline(ctx, b.src, b.dst, "invoices", "crm_base", time.Time{})
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "re-upsert baseline"); err != nil {
			return err
		}
		if br.Rows != n || br.Written != 0 {
			return fmt.Errorf("unchanged re-upsert baseline: copied %d, wrote %d rows, want %d and 0", br.Rows, br.Written, n)
		}
		if err := b.runner.resetCheckpoint(ctx, b.state("main")); err != nil {
			return err
		}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		res, err := b.runner.sync(ctx, fmt.Sprintf("reupsert-%d", i), filepath.Join(b.dir, "bench-main.yaml"), b.state("main"))
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "re-upsert runner"); err != nil {
			return err
		}
		if err := expect("unchanged re-upsert", res, n, 0, n); err != nil {
			return err
		}
		if err := b.verify(ctx, "invoices", "crm_invoices"); err != nil {
			return fmt.Errorf("unchanged re-upsert: %w", err)
		}
		walls, bases = append(walls, res.Wall), append(bases, br.Wall)
		rss = max(rss, res.MaxRSS)
		cpus = append(cpus, res.CPU)
		last = res
	}
	r := row{scenario: "re-upsert, unchanged", rows: n, wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(),
		target: fmt.Sprintf("≤ %.1f× baseline", reupsertTarget), note: repsNote(walls, bases)}
	r.ratio = pairedRatio(walls, bases)
	r.ok = ptr(r.ratio <= reupsertTarget)
	b.add(r, last)
	return nil
}

// changed changes 1 % of the source and runs the main job incrementally; the baseline
// merges the same rows (updated_at ≥ the previous cursor less the safety gap). Each
// repetition changes the rows anew.
func (b *bench) changed(ctx context.Context) error {
	var walls, bases timings
	var rss, read, n int64
	var last runResult
	var cpus timings
	for i := 0; i < b.o.reps; i++ {
		prev, err := maxUpdatedAt(ctx, b.src, "invoices")
		if err != nil {
			return err
		}
		if n, err = changeSource(ctx, b.src, "invoices"); err != nil {
			return err
		}
		// The changed rows and what is left of the last group, re-read within the safety gap.
		if err := b.src.QueryRow(ctx, "SELECT count(*) FROM invoices WHERE updated_at >= $1", prev.Add(-safetyGap)).Scan(&read); err != nil {
			return fmt.Errorf("count rows to re-read: %w", err)
		}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		br, err := baseline(ctx, b.src, b.dst, "invoices", "crm_base", prev.Add(-safetyGap))
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "1% changed baseline"); err != nil {
			return err
		}
		if br.Rows != read || br.Written != n {
			return fmt.Errorf("1%% changed baseline: copied %d, wrote %d rows, want %d and %d", br.Rows, br.Written, read, n)
		}
		if err := b.verify(ctx, "invoices", "crm_base"); err != nil {
			return fmt.Errorf("1%% changed baseline: %w", err)
		}
		if err := b.checkpoint(ctx); err != nil {
			return err
		}
		res, err := b.runner.sync(ctx, fmt.Sprintf("changed-%d", i), filepath.Join(b.dir, "bench-main.yaml"), b.state("main"))
		if err != nil {
			return err
		}
		if err := b.printStatements(ctx, "1% changed runner"); err != nil {
			return err
		}
		if err := expect("1% changed", res, read, n, read-n); err != nil {
			return err
		}
		if err := b.verify(ctx, "invoices", "crm_invoices"); err != nil {
			return fmt.Errorf("1%% changed: %w", err)
		}
		walls, bases = append(walls, res.Wall), append(bases, br.Wall)
		rss = max(rss, res.MaxRSS)
		cpus = append(cpus, res.CPU)
		last = res
	}
	r := row{scenario: "1 % changed", rows: read, wall: walls.median(), cpu: cpus.median(), rss: rss, base: bases.median(), target: "(none)",
		note: strings.TrimPrefix(fmt.Sprintf("%s; %d changed + %d re-read in the safety gap, baseline merges the same rows", repsNote(walls, bases), n, read-n), "; ")}
	r.ratio = pairedRatio(walls, bases)
	b.add(r, last)
	return nil
}

// pairedRatio is the median of runner/baseline over the repetitions, each runner run
// paired with the baseline run just before it, which cancels most of the drift of a
// shared machine's load. With fewer baseline runs (a scenario reusing another's), it is
// the ratio of the medians.
func pairedRatio(walls, bases timings) float64 {
	if len(bases) != len(walls) {
		return walls.median().Seconds() / bases.median().Seconds()
	}
	ratios := make([]float64, len(walls))
	for i := range walls {
		ratios[i] = walls[i].Seconds() / bases[i].Seconds()
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2]
}

// add appends a row, with the RSS target checked for every runner run.
func (b *bench) add(r row, res runResult) {
	if r.rss > rssTarget {
		r.note = strings.TrimPrefix(r.note+"; peak RSS over 64 MiB", "; ")
		r.ok = ptr(false)
	}
	if res.Elapsed > 0 && !strings.Contains(r.note, "cli.Main") {
		r.note = strings.TrimPrefix(fmt.Sprintf("%s; last run's cli.Main %.2f s", r.note, res.Elapsed.Seconds()), "; ")
	}
	b.results = append(b.results, r)
}

// truncate empties a sink table.
func (b *bench) truncate(ctx context.Context, table string) error {
	if _, err := b.dst.Exec(ctx, "TRUNCATE "+pgx.Identifier{table}.Sanitize()); err != nil {
		return fmt.Errorf("truncate %s: %w", table, err)
	}
	return nil
}
