// Command bench measures the runner end to end, Postgres to Postgres on one local
// PostgreSQL server (internal/pgtest), against a raw baseline run in the same invocation
// on the same server (see baseline). It builds the runner binary, generates a source table
// of -rows invoices whose updated_at come in groups of identical values, and runs the
// runner as a child process for each scenario:
//
//   - full load into an empty sink (at -small rows too, to compare peak memory);
//   - full load with the product's default page size (500), for comparison;
//   - a rerun with nothing new (the safety gap re-reads the last group);
//   - a re-upsert of every row after `runner checkpoint reset --to beginning`, all unchanged;
//   - an incremental run after 1 % of the rows changed.
//
// For each it prints the wall time, rows per second, the child's peak RSS (from its
// rusage) and the ratio to the baseline, against the targets of the issue. It verifies
// the sink after every run (row count and a checksum of every row against the source).
// It is a benchmark, not a test: it exits 0 when a target is missed, and 1 when something
// broke (a runner exit code other than 0, a wrong count or checksum, drift).
//
// Fairness: the runner and the baseline use the same server, settings and tables of the
// same shape; a CHECKPOINT precedes every timed step, and tables are vacuumed after bulk
// writes, so neither pays for the other's WAL or hint bits. The runner's time includes its
// process start and connecting; the baseline's connections are opened beforehand.
//
// With -profile DIR the runner scenarios run this binary as the runner (runner/cli.Main,
// the same code) with CPU and heap profiles written to DIR.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkpointed/checkpointed/internal/pgtest"
)

// Targets of the issue.
const (
	fullLoadTarget  = 1.2 // full load ≤ 1.2 × the baseline
	reupsertTarget  = 1.3 // unchanged re-upsert ≤ 1.3 × the baseline's skip-unchanged merge
	rerunTarget     = 100 * time.Millisecond
	rssTarget       = 64 << 20 // bytes
	rssSpreadTarget = 0.20     // peak RSS at -small and -rows within 20 %
	safetyGap       = 5 * time.Minute
)

// settingsFlag collects repeated -pg name=value flags.
type settingsFlag map[string]string

func (s settingsFlag) String() string {
	var parts []string
	for k, v := range s {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (s settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	s[k] = val
	return nil
}

// options are the command-line flags.
type options struct {
	rows, small int
	pageSize    int
	altPageSize int
	reruns      int
	profileDir  string
	settings    settingsFlag
}

func main() {
	if os.Getenv(runnerEnv) != "" {
		os.Exit(runAsRunner())
	}
	o := options{settings: settingsFlag{}}
	flag.IntVar(&o.rows, "rows", 1_000_000, "rows of the main source table")
	flag.IntVar(&o.small, "small", 100_000, "rows of the small source table (peak-memory comparison)")
	flag.IntVar(&o.pageSize, "page-size", 5000, "spec.pageSize of the runner's SyncJobs")
	flag.IntVar(&o.altPageSize, "alt-page-size", 500, "also run the full load with this page size (the product default); 0 skips it")
	flag.IntVar(&o.reruns, "reruns", 3, "repetitions of the rerun with nothing new (the median is reported)")
	flag.StringVar(&o.profileDir, "profile", "", "run the runner scenarios in-process-profiled and write CPU and heap profiles here")
	flag.Var(o.settings, "pg", "PostgreSQL setting name=value for the server, repeatable (applies to runner and baseline alike)")
	flag.Parse()
	if o.rows < 1000 || o.small < 1000 || o.pageSize < 1 || o.pageSize > 10000 || o.reruns < 1 {
		fmt.Fprintln(os.Stderr, "bench: want -rows and -small >= 1000, 1 <= -page-size <= 10000, -reruns >= 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		os.Exit(1)
	}
}

// bench is the state of one invocation.
type bench struct {
	o       options
	dir     string
	runner  runnerBin
	self    runnerBin // this binary as the runner, for in-process timings
	src     *pgx.Conn
	dst     *pgx.Conn
	admin   *pgx.Conn
	results []row
	// lastFullBase is the last full-load baseline time.
	lastFullBase time.Duration
}

// row is one line of the result table.
type row struct {
	scenario string
	rows     int64
	wall     time.Duration
	rss      int64 // bytes; 0: not measured
	base     time.Duration
	ratio    float64 // 0: no baseline
	target   string
	ok       *bool // nil: no target
	note     string
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "checkpointed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("Go %s, %d cores (GOMAXPROCS %d), %s/%s\n", runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	t0 := time.Now()
	bin, err := buildRunner(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Printf("built the runner in %.1fs\n", time.Since(t0).Seconds())

	t0 = time.Now()
	srv, err := pgtest.Start(ctx, pgtest.Options{Settings: o.settings})
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer func() { _ = srv.Stop() }()
	for _, db := range []string{"bench_src", "bench_dst"} {
		if err := srv.CreateDB(ctx, db); err != nil {
			return err
		}
	}
	b := &bench{o: o, dir: dir}
	conns := map[string]**pgx.Conn{"bench_src": &b.src, "bench_dst": &b.dst, "postgres": &b.admin}
	for db, c := range conns {
		conn, err := pgx.Connect(ctx, srv.DSN(db))
		if err != nil {
			return fmt.Errorf("connect to %s: %w", db, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		*c = conn
	}
	var version, sc, fsync, sb string
	if err := b.admin.QueryRow(ctx, `SELECT version(), current_setting('synchronous_commit'), current_setting('fsync'), current_setting('shared_buffers')`).
		Scan(&version, &sc, &fsync, &sb); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	fmt.Printf("%s\nserver: fsync=%s synchronous_commit=%s shared_buffers=%s (same for runner and baseline); started in %.1fs\n",
		version, fsync, sc, sb, time.Since(t0).Seconds())

	env := secretEnv(srv.DSN("bench_src"), srv.DSN("bench_dst"))
	b.runner = runnerBin{path: bin, env: env}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.self = runnerBin{path: self, env: append([]string{runnerEnv + "=1"}, env...)}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		abs, _ := filepath.Abs(o.profileDir)
		b.runner = b.self
		b.runner.profDir = abs
		fmt.Printf("profiling: runner scenarios run this binary as the runner; profiles in %s\n", abs)
	}
	fmt.Printf("page size %d (copyThreshold 1000: pages of 1000 or more go through COPY), checkpoint interval 10s, safety gap 5m, groups of %d rows per updated_at\n\n",
		o.pageSize, groupSize)

	if err := b.scenarios(ctx); err != nil {
		b.print()
		return err
	}
	b.print()
	return nil
}

// scenarios runs everything in order; each step depends on the sink state the previous
// one left.
func (b *bench) scenarios(ctx context.Context) error {
	o := b.o
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

	// Full load, small: the memory reference.
	smallRun, err := b.fullLoad(ctx, "full load", "invoices_small", "crm_small", "crm_small_base", "small", o.pageSize, int64(o.small), 0)
	if err != nil {
		return err
	}
	// Full load, main.
	bigRun, err := b.fullLoad(ctx, "full load", "invoices", "crm_invoices", "crm_base", "main", o.pageSize, int64(o.rows), fullLoadTarget)
	if err != nil {
		return err
	}
	b.memoryRow(smallRun, bigRun)
	if o.altPageSize > 0 {
		if _, err := b.fullLoad(ctx, fmt.Sprintf("full load, page %d", o.altPageSize), "invoices", "crm_alt", "", "alt", o.altPageSize, int64(o.rows), fullLoadTarget); err != nil {
			return err
		}
	}
	if err := b.rerun(ctx); err != nil {
		return err
	}
	if err := b.reupsert(ctx); err != nil {
		return err
	}
	return b.changed(ctx)
}

// fullLoad runs the baseline (unless baseTable is "" — then the last full-load baseline of
// the same row count is reused) and the runner into empty sink tables and verifies both.
func (b *bench) fullLoad(ctx context.Context, name, srcTable, dstTable, baseTable, job string, pageSize int, n int64, target float64) (runResult, error) {
	var base time.Duration
	if baseTable != "" {
		if err := b.checkpoint(ctx); err != nil {
			return runResult{}, err
		}
		br, err := baseline(ctx, b.src, b.dst, srcTable, baseTable, time.Time{})
		if err != nil {
			return runResult{}, err
		}
		if br.Rows != n || br.Written != n {
			return runResult{}, fmt.Errorf("%s baseline: copied %d, wrote %d rows, want %d", name, br.Rows, br.Written, n)
		}
		if err := b.verify(ctx, srcTable, baseTable); err != nil {
			return runResult{}, fmt.Errorf("%s baseline: %w", name, err)
		}
		if err := vacuum(ctx, b.dst, baseTable); err != nil {
			return runResult{}, err
		}
		base = br.Wall
		b.lastFullBase = br.Wall
	} else {
		base = b.lastFullBase
	}
	jf, err := jobFile(b.dir, "bench-"+job, srcTable, dstTable, pageSize)
	if err != nil {
		return runResult{}, err
	}
	if err := b.checkpoint(ctx); err != nil {
		return runResult{}, err
	}
	res, err := b.runner.sync(ctx, strings.ReplaceAll(name, " ", "-")+"-"+job, jf, b.state(job))
	if err != nil {
		return res, err
	}
	if err := expect(name, res, n, n, 0); err != nil {
		return res, err
	}
	if err := b.verify(ctx, srcTable, dstTable); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	if err := vacuum(ctx, b.dst, dstTable); err != nil {
		return res, err
	}
	r := row{scenario: name, rows: res.Record.Read, wall: res.Wall, rss: res.MaxRSS, base: base}
	r.ratio = res.Wall.Seconds() / base.Seconds()
	if target > 0 {
		r.target = fmt.Sprintf("≤ %.1f× baseline", target)
		r.ok = ptr(r.ratio <= target)
	}
	r.rss = res.MaxRSS
	b.add(r, res)
	return res, nil
}

// memoryRow compares the peak RSS of the small and the main full load.
func (b *bench) memoryRow(small, big runResult) {
	spread := float64(big.MaxRSS-small.MaxRSS) / float64(small.MaxRSS)
	if spread < 0 {
		spread = -spread
	}
	b.results = append(b.results, row{
		scenario: "peak RSS, small → main",
		rss:      max(small.MaxRSS, big.MaxRSS),
		target:   fmt.Sprintf("≤ 64 MiB, spread ≤ %.0f%%", rssSpreadTarget*100),
		ok:       ptr(small.MaxRSS <= rssTarget && big.MaxRSS <= rssTarget && spread <= rssSpreadTarget),
		note:     fmt.Sprintf("%.1f → %.1f MiB (%+.1f%%)", mib(small.MaxRSS), mib(big.MaxRSS), 100*float64(big.MaxRSS-small.MaxRSS)/float64(small.MaxRSS)),
	})
}

// rerun runs the main job again with nothing new, several times, with the runner binary
// and with this binary as the runner (to time cli.Main without the process start).
func (b *bench) rerun(ctx context.Context) error {
	jf := filepath.Join(b.dir, "bench-main.yaml")
	var walls, inproc []time.Duration
	var rss int64
	var last runResult
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
	wall, in := median(walls), median(inproc)
	r := row{scenario: "rerun, nothing new", rows: last.Record.Read, wall: wall, rss: rss,
		target: "≤ 0.10 s", ok: ptr(wall <= rerunTarget),
		note: fmt.Sprintf("median of %d; cli.Main in-process %.3fs (min %.3fs), without process start", len(walls), in.Seconds(), slices.Min(inproc).Seconds())}
	b.add(r, last)
	return nil
}

// reupsert resets the main job's checkpoint and runs it: every row is re-read and
// unchanged. The baseline is the skip-unchanged merge of every row into its full table.
func (b *bench) reupsert(ctx context.Context) error {
	n := int64(b.o.rows)
	if err := b.checkpoint(ctx); err != nil {
		return err
	}
	br, err := baseline(ctx, b.src, b.dst, "invoices", "crm_base", time.Time{})
	if err != nil {
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
	res, err := b.runner.sync(ctx, "reupsert", filepath.Join(b.dir, "bench-main.yaml"), b.state("main"))
	if err != nil {
		return err
	}
	if err := expect("unchanged re-upsert", res, n, 0, n); err != nil {
		return err
	}
	if err := b.verify(ctx, "invoices", "crm_invoices"); err != nil {
		return fmt.Errorf("unchanged re-upsert: %w", err)
	}
	ratio := res.Wall.Seconds() / br.Wall.Seconds()
	b.add(row{scenario: "re-upsert, unchanged", rows: res.Record.Read, wall: res.Wall, rss: res.MaxRSS, base: br.Wall, ratio: ratio,
		target: fmt.Sprintf("≤ %.1f× baseline", reupsertTarget), ok: ptr(ratio <= reupsertTarget),
		note: "after checkpoint reset --to beginning"}, res)
	return nil
}

// changed changes 1 % of the source and runs the main job incrementally; the baseline
// merges the same rows (updated_at ≥ the previous cursor less the safety gap).
func (b *bench) changed(ctx context.Context) error {
	prev, err := maxUpdatedAt(ctx, b.src, "invoices")
	if err != nil {
		return err
	}
	n, err := changeSource(ctx, b.src, "invoices")
	if err != nil {
		return err
	}
	if err := b.checkpoint(ctx); err != nil {
		return err
	}
	br, err := baseline(ctx, b.src, b.dst, "invoices", "crm_base", prev.Add(-safetyGap))
	if err != nil {
		return err
	}
	// The changed rows and what is left of the last group, re-read within the safety gap.
	var read int64
	if err := b.src.QueryRow(ctx, "SELECT count(*) FROM invoices WHERE updated_at >= $1", prev.Add(-safetyGap)).Scan(&read); err != nil {
		return fmt.Errorf("count rows to re-read: %w", err)
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
	res, err := b.runner.sync(ctx, "changed", filepath.Join(b.dir, "bench-main.yaml"), b.state("main"))
	if err != nil {
		return err
	}
	if err := expect("1% changed", res, read, n, read-n); err != nil {
		return err
	}
	if err := b.verify(ctx, "invoices", "crm_invoices"); err != nil {
		return fmt.Errorf("1%% changed: %w", err)
	}
	b.add(row{scenario: "1 % changed", rows: res.Record.Read, wall: res.Wall, rss: res.MaxRSS, base: br.Wall,
		ratio: res.Wall.Seconds() / br.Wall.Seconds(), target: "(none)",
		note: fmt.Sprintf("%d changed + %d re-read in the safety gap; baseline merges the same rows", n, read-n)}, res)
	return nil
}

// add appends a row, with the RSS target checked for every runner run.
func (b *bench) add(r row, res runResult) {
	if res.MaxRSS > rssTarget {
		r.note = strings.TrimPrefix(r.note+"; peak RSS over 64 MiB", "; ")
		r.ok = ptr(false)
	}
	if res.Elapsed > 0 && !strings.Contains(r.note, "in-process") {
		r.note = strings.TrimPrefix(fmt.Sprintf("%s; cli.Main %.2fs", r.note, res.Elapsed.Seconds()), "; ")
	}
	b.results = append(b.results, r)
}

// expect checks a run's phase and counts.
func expect(name string, res runResult, read, upserted, unchanged int64) error {
	rec := res.Record
	if res.Exit != 0 || rec.Phase != "Succeeded" {
		return fmt.Errorf("%s: runner exit %d, phase %s (%s: %s)", name, res.Exit, rec.Phase, rec.Reason, rec.Message)
	}
	if rec.Read != read || rec.Upserted != upserted || rec.Unchanged != unchanged || rec.Failed != 0 {
		return fmt.Errorf("%s: read %d, upserted %d, unchanged %d, failed %d; want %d, %d, %d, 0",
			name, rec.Read, rec.Upserted, rec.Unchanged, rec.Failed, read, upserted, unchanged)
	}
	if rc := rec.Reconciliation; rc != nil && rc.Drift {
		return fmt.Errorf("%s: drift check: source %d, sink %d rows in [%s, %s]", name, rc.SourceCount, rc.SinkCount, rc.WindowStart, rc.WindowEnd)
	}
	return nil
}

// verify compares a sink table with the source it was loaded from.
func (b *bench) verify(ctx context.Context, srcTable, dstTable string) error {
	want, err := sourceDigest(ctx, b.src, srcTable)
	if err != nil {
		return err
	}
	got, err := sinkDigest(ctx, b.dst, dstTable)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("sink %s holds %s, source %s has %s", dstTable, got, srcTable, want)
	}
	return nil
}

// checkpoint flushes the server's dirty buffers so that the next timed step does not pay
// for the previous one's writes.
func (b *bench) checkpoint(ctx context.Context) error {
	if _, err := b.admin.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (b *bench) state(job string) string { return filepath.Join(b.dir, "state-"+job) }

// print writes the result table.
func (b *bench) print() {
	fmt.Printf("\n%-24s %9s %8s %10s %9s %10s %7s  %-26s %-6s %s\n",
		"scenario", "rows", "wall s", "rows/s", "RSS MiB", "baseline s", "ratio", "target", "result", "note")
	fmt.Println(strings.Repeat("-", 130))
	missed := 0
	for _, r := range b.results {
		rows, wall, rate, base, ratio := "", "", "", "", ""
		if r.rows > 0 {
			rows = fmt.Sprint(r.rows)
		}
		if r.wall > 0 {
			wall = fmt.Sprintf("%.3f", r.wall.Seconds())
			if r.rows > 0 {
				rate = fmt.Sprintf("%.0f", float64(r.rows)/r.wall.Seconds())
			}
		}
		rss := ""
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f", mib(r.rss))
		}
		if r.base > 0 {
			base = fmt.Sprintf("%.3f", r.base.Seconds())
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		result := ""
		if r.ok != nil {
			result = "ok"
			if !*r.ok {
				result = "MISSED"
				missed++
			}
		}
		fmt.Printf("%-24s %9s %8s %10s %9s %10s %7s  %-26s %-6s %s\n", r.scenario, rows, wall, rate, rss, base, ratio, r.target, result, r.note)
	}
	if missed > 0 {
		fmt.Printf("\n%d target(s) missed (a benchmark: the exit code stays 0).\n", missed)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ptr[T any](v T) *T { return &v }
