package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Secrets the benchmark's SyncJobs refer to; their values travel in the environment.
const (
	srcSecret = "bench-src-db"
	dstSecret = "bench-dst-db"
)

// jobYAML is a SyncJob of the shape of config/samples, reduced to what the benchmark
// varies (the drift, keys and snapshot scenarios; the incremental ones use userJobYAML). %[1]s name, %[2]s source table, %[3]s sink table, %[4]d page size.
const jobYAML = `apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: %[1]s
spec:
  schedule: "0 2 * * *"
  source:
    name: billing
    postgres:
      dsn: {name: ` + srcSecret + `, key: dsn}
      table: %[2]s
  sink:
    postgres:
      dsn: {name: ` + dstSecret + `, key: dsn}
      table: %[3]s
  key:
    field: billing_invoice_id
  mapping:
  - {to: customer_id, from: customer_id, type: string, required: true}
  - {to: status, from: status, type: string, required: true}
  - {to: total, from: total, type: decimal, required: true}
  pageSize: %[4]d
`

// userJobYAML is the incremental scenarios' SyncJob: the settings of the sample
// config/samples/sync_v1alpha1_syncjob_postgres.yaml (stale-write guard, synced-at and run
// id columns, key expression, mapping, safety gap, checkpoint interval, error policy,
// drift check), with the page size left to its default unless a variant sets it.
// %[1]s name, %[2]s source table, %[3]s sink table, %[4]s a pageSize line or "".
const userJobYAML = `apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: %[1]s
spec:
  schedule: "0 2 * * *"
  timeZone: Europe/Berlin
  source:
    name: billing
    postgres:
      dsn: {name: ` + srcSecret + `, key: dsn}
      table: %[2]s
      updatedAtColumn: updated_at
      idColumn: id
  sink:
    postgres:
      dsn: {name: ` + dstSecret + `, key: dsn}
      table: %[3]s
      sourceUpdatedAtColumn: source_updated_at
      syncedAtColumn: synced_at
      runIdColumn: sync_run_id
  key:
    field: billing_invoice_id
    expr: string(record.id)
  mapping:
  - {to: billing_customer_id, from: customer_id, type: string, required: true}
  - {to: status, from: status, type: string, required: true}
  - {to: total, from: total, type: decimal, required: true}
  - {to: is_paid, expr: 'record.status == "paid"', type: bool}
  cursor:
    safetyGap: 5m
  checkpoint:
    interval: 10s
  errors:
    policy: Skip
    maxErrors: 100
  reconcile:
    window: 24h
    sample: 20
%[4]s`

// userJobFile writes a SyncJob file of userJobYAML and returns its path; pageSize 0
// leaves spec.pageSize to its default.
func userJobFile(dir, name, srcTable, dstTable string, pageSize int) (string, error) {
	p := filepath.Join(dir, name+".yaml")
	ps := ""
	if pageSize > 0 {
		ps = fmt.Sprintf("  pageSize: %d\n", pageSize)
	}
	if err := os.WriteFile(p, []byte(fmt.Sprintf(userJobYAML, name, srcTable, dstTable, ps)), 0o600); err != nil {
		return "", fmt.Errorf("write job file: %w", err)
	}
	return p, nil
}

// runnerBin is the built runner and how to run it.
type runnerBin struct {
	path    string   // the executable
	prefix  []string // arguments before the runner's own
	env     []string // environment of every run
	profDir string   // when set, each run writes <profDir>/<label>.cpu.pprof and .heap.pprof
}

// buildRunner builds ./runner of this module into dir, as `make build` does.
func buildRunner(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "runner")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "github.com/checkpointed/checkpointed/runner")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./runner: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// jobFile writes a SyncJob file and returns its path.
func jobFile(dir, name, srcTable, dstTable string, pageSize int) (string, error) {
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(jobYAML, name, srcTable, dstTable, pageSize)), 0o600); err != nil {
		return "", fmt.Errorf("write job file: %w", err)
	}
	return p, nil
}

// secretEnv is the environment carrying the two DSNs.
func secretEnv(srcDSN, dstDSN string) []string {
	return []string{
		runcontract.SecretEnvName(srcSecret, "dsn") + "=" + srcDSN,
		runcontract.SecretEnvName(dstSecret, "dsn") + "=" + dstDSN,
	}
}

// runResult is one runner process.
type runResult struct {
	Wall    time.Duration
	MaxRSS  int64         // bytes, the child's peak resident set
	CPU     time.Duration // the child's user and system CPU time
	Exit    int
	Record  syncv1.RunRecord
	Stdout  string
	Stderr  string
	Elapsed time.Duration // engine time reported by the process itself, when profiled
}

// sync runs `runner sync -f job --state-dir state` and parses the run record. A non-zero
// exit is returned as an error together with the result.
func (r *runnerBin) sync(ctx context.Context, label, job, state string) (runResult, error) {
	return r.run(ctx, label, "sync", "-f", job, "--state-dir", state)
}

// resetCheckpoint runs `runner checkpoint reset --to beginning`.
func (r *runnerBin) resetCheckpoint(ctx context.Context, state string) error {
	_, err := r.run(ctx, "", "checkpoint", "reset", "--to", "beginning", "--state-dir", state)
	return err
}

func (r *runnerBin) run(ctx context.Context, label string, args ...string) (runResult, error) {
	var res runResult
	cmd := exec.CommandContext(ctx, r.path, append(append([]string{}, r.prefix...), args...)...)
	cmd.Env = append(os.Environ(), r.env...)
	if r.profDir != "" && label != "" {
		cmd.Env = append(cmd.Env, profileEnv+"="+filepath.Join(r.profDir, label))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res.Wall = time.Since(start)
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	if cmd.ProcessState != nil {
		res.Exit = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = ru.Maxrss * 1024 // KiB on Linux
			res.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return res, fmt.Errorf("runner %s: %w\nstderr (tail): %s", strings.Join(args, " "), err, tailLines(res.Stderr, 20))
	}
	if args[0] == "sync" {
		if err := json.Unmarshal(stdout.Bytes(), &res.Record); err != nil {
			return res, fmt.Errorf("runner %s: parse run record: %w\nstdout: %s", strings.Join(args, " "), err, tailLines(res.Stdout, 20))
		}
		res.Elapsed = profiledElapsed(res.Stderr)
	}
	return res, nil
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
