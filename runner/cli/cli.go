// Package cli is the runner's command line: it reads a SyncJob (from a file in local mode,
// from the API in a cluster), wires the connectors, the mapping, the checkpoint store and
// the run lock into one engine run, and turns the outcome into output and an exit code.
//
//	runner sync -f job.yaml --state-dir DIR     one sync; the run record as JSON on stdout
//	runner plan -f job.yaml --state-dir DIR     read and map, write nothing; what would be written
//	runner checkpoint show --state-dir DIR      the stored checkpoint as JSON
//	runner explain -f job.yaml --state-dir DIR ID  why record ID is (not) in the sink
//	runner checkpoint reset --to RFC3339|beginning [--clear-failed-keys] --state-dir DIR
//	runner checkpoint reset --clear-failed-keys --state-dir DIR
//	runner sync --in-cluster                    the CronJob's command (SyncJob from the API)
//	runner checkpoint reset --in-cluster        a reset Job's command (target from the environment)
//	runner explain --in-cluster ID              explain's one-off Job (reads only; no lock, no writes)
//	runner plan --in-cluster                    a preflight Job's command (verdict as termination message)
//
// Exit codes: 0 Succeeded (and "another run holds the lock": nothing was done), 3
// PartiallySucceeded, 1 anything else, 2 bad usage (and an invalid in-cluster reset target).
//
// Local mode reads each secretKeyRef from the environment variable "<SECRET>_<KEY>",
// upper-cased, with "-" and "." (any character outside A-Z, 0-9, _) turned into "_".
package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/jobconfig"
	"github.com/checkpointed/checkpointed/runner/report"
)

// Main runs the command in args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := newLogger(stderr)
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return runcontract.ExitUsage
	}
	var err error
	code := runcontract.ExitOK
	switch args[0] {
	case "sync":
		code, err = runSync(ctx, log, args[1:], stdout, stderr)
	case "plan":
		code, err = runPlan(ctx, log, args[1:], stdout, stderr)
	case "checkpoint":
		code, err = runCheckpoint(ctx, log, args[1:], stdout, stderr)
	case "explain":
		code, err = runExplain(ctx, log, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return runcontract.ExitOK
	default:
		fmt.Fprintf(stderr, "runner: unknown command %q\n%s\n", args[0], usage)
		return runcontract.ExitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
	}
	return code
}

const usage = `usage:
  runner sync -f job.yaml --state-dir DIR [--backfill-from RFC3339 --backfill-to RFC3339]
                                          [--full-reconcile] [--confirm-deletes TOKEN]
  runner sync --in-cluster
  runner plan -f job.yaml --state-dir DIR [--limit N]
  runner plan --in-cluster
  runner checkpoint show --state-dir DIR
  runner checkpoint reset [--to RFC3339|beginning] [--clear-failed-keys] --state-dir DIR
  runner checkpoint reset --in-cluster
  runner explain -f job.yaml --state-dir DIR <source id>
  runner explain --in-cluster <source id>`

// newLogger logs JSON lines to w.
func newLogger(w io.Writer) logr.Logger {
	return funcr.NewJSON(func(obj string) { fmt.Fprintln(w, obj) }, funcr.Options{LogTimestamp: true})
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ error }

func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// runSync runs one sync, locally or in-cluster, and prints the run record.
func runSync(ctx context.Context, log logr.Logger, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flagSet("sync", stderr)
	file := fs.String("f", "", "SyncJob YAML file (local mode)")
	stateDir := fs.String("state-dir", "", "directory of the local checkpoint and run lock")
	inCluster := fs.Bool("in-cluster", false, "read the SyncJob from the API (the CronJob's mode)")
	bfFrom := fs.String("backfill-from", "", "backfill: RFC3339 start of the range (the main cursor does not move)")
	bfTo := fs.String("backfill-to", "", "backfill: RFC3339 end of the range (exclusive)")
	fullReconcile := fs.Bool("full-reconcile", false, "end the run with a full key reconciliation (spec.deletes)")
	confirmDeletes := fs.String("confirm-deletes", "", "the token a run refused by the delete valve printed: delete what it counted")
	if err := fs.Parse(args); err != nil {
		return runcontract.ExitUsage, nil
	}
	if *inCluster {
		cfg, in, err := inClusterFromEnv()
		if err != nil {
			return runcontract.ExitFailed, err
		}
		return RunInCluster(ctx, log, cfg, in, stdout)
	}
	if *file == "" || *stateDir == "" {
		return runcontract.ExitUsage, usageError{errors.New("sync needs -f job.yaml and --state-dir DIR (or --in-cluster)")}
	}
	sj, err := LoadJob(*file)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	if err := os.MkdirAll(*stateDir, 0o700); err != nil {
		return runcontract.ExitFailed, fmt.Errorf("state dir: %w", err)
	}
	cfg, closeAll, err := jobconfig.Build(ctx, log, sj, newRunID(), runcontract.TriggerLocal)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	defer closeAll()
	if *bfFrom != "" || *bfTo != "" {
		if cfg.Range, err = backfillRange(*bfFrom, *bfTo, ""); err != nil {
			return runcontract.ExitUsage, usageError{err}
		}
		cfg.Trigger = runcontract.TriggerBackfill
	}
	if note := jobconfig.DeleteRequest(&cfg, sj, *fullReconcile, *confirmDeletes); note != "" {
		log.Info(note)
	}
	cfg.Store = checkpoint.NewFileStore(*stateDir, sj.Name)
	cfg.Lock = checkpoint.NewFileLock(*stateDir)
	// Local mode: the audit's JSON lines are logs (stderr); stdout holds only the record.
	cfg.AuditOut = stderr
	res, err := engine.Run(ctx, cfg)
	return finish(res, err, stdout, stderr)
}

// finish turns an engine outcome into output and an exit code.
func finish(res engine.Result, err error, stdout, stderr io.Writer) (int, error) {
	if res.Locked {
		fmt.Fprintf(stderr, "runner: %v: nothing to do, exiting\n", err)
		return runcontract.ExitOK, nil
	}
	var runErr *engine.RunError
	if err != nil && !errors.As(err, &runErr) {
		return runcontract.ExitFailed, err
	}
	rec := report.RunRecord(res.Record)
	if err := writeJSON(stdout, rec); err != nil {
		return runcontract.ExitFailed, err
	}
	return exitCode(rec.Phase), nil
}

// exitCode maps a run phase to the process exit code.
func exitCode(p syncv1.RunPhase) int {
	switch p {
	case syncv1.RunPhaseSucceeded:
		return runcontract.ExitOK
	case syncv1.RunPhasePartiallySucceeded:
		return runcontract.ExitPartial
	}
	return runcontract.ExitFailed
}

// planOutput is what `runner plan` prints.
type planOutput struct {
	Read   int64               `json:"read"`
	Writes int64               `json:"writes"`
	Failed int64               `json:"failed"`
	Cursor *syncv1.Cursor      `json:"cursorStart,omitempty"`
	Errors []syncv1.ErrorGroup `json:"errorSummary,omitempty"`
	// MappingChange and Warnings are the run record's: what a sync would report.
	MappingChange *syncv1.MappingChange `json:"mappingChange,omitempty"`
	Warnings      []string              `json:"warnings,omitempty"`
	Records       []planRecord          `json:"records"`
}

type planRecord struct {
	Key      string         `json:"key"`
	SourceID string         `json:"sourceId"`
	Values   map[string]any `json:"values"`
}

// runPlan reads and maps without writing and prints what would be written.
func runPlan(ctx context.Context, log logr.Logger, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flagSet("plan", stderr)
	file := fs.String("f", "", "SyncJob YAML file")
	stateDir := fs.String("state-dir", "", "directory of the local checkpoint")
	limit := fs.Int("limit", 10, "records to show")
	inCluster := fs.Bool("in-cluster", false, "preflight: the SyncJob the environment names, from the API; the verdict "+
		"is the termination message (a preflight Job's mode)")
	if err := fs.Parse(args); err != nil {
		return runcontract.ExitUsage, nil
	}
	if *inCluster {
		if *file != "" || *stateDir != "" {
			return runcontract.ExitUsage, usageError{errors.New("plan --in-cluster takes neither -f nor --state-dir")}
		}
		cfg, in, err := inClusterFromEnv()
		if err != nil {
			writePreflight(false, err.Error())
			return runcontract.ExitFailed, err
		}
		return PlanInCluster(ctx, log, cfg, in, stdout)
	}
	if *file == "" || *stateDir == "" {
		return runcontract.ExitUsage, usageError{errors.New("plan needs -f job.yaml and --state-dir DIR")}
	}
	sj, err := LoadJob(*file)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	cfg, closeAll, err := jobconfig.Build(ctx, log, sj, newRunID(), runcontract.TriggerPlan)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	defer closeAll()
	advice := sinkAdvice(ctx, log, cfg) // sinkadvice.go
	cfg.DryRun = true
	cfg.Sink = nil
	cfg.Store = checkpoint.NewFileStore(*stateDir, sj.Name)
	cfg.PreviewLimit = *limit
	cfg.AuditOut = stderr
	res, err := engine.Run(ctx, cfg)
	var runErr *engine.RunError
	if err != nil && !errors.As(err, &runErr) {
		return runcontract.ExitFailed, err
	}
	rec := report.RunRecord(res.Record)
	out := planOutput{Read: rec.Read, Failed: rec.Failed, Cursor: rec.CursorStart,
		Errors: rec.ErrorSummary, MappingChange: rec.MappingChange, Warnings: append(rec.Warnings, advice...), Records: []planRecord{}}
	if res.Plan != nil {
		out.Writes = res.Plan.Writes
		for _, r := range res.Plan.Records {
			out.Records = append(out.Records, planRecord{Key: r.Key, SourceID: r.SourceID, Values: r.Values})
		}
	}
	if err := writeJSON(stdout, out); err != nil {
		return runcontract.ExitFailed, err
	}
	return exitCode(rec.Phase), nil
}

// runCheckpoint shows or resets the local checkpoint, or resets the in-cluster one as a
// reset Job (see ResetInCluster).
func runCheckpoint(ctx context.Context, log logr.Logger, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || (args[0] != "show" && args[0] != "reset") {
		return runcontract.ExitUsage, usageError{errors.New("checkpoint needs show or reset")}
	}
	fs := flagSet("checkpoint "+args[0], stderr)
	stateDir := fs.String("state-dir", "", "directory of the local checkpoint")
	to := fs.String("to", "", "reset: RFC3339 time or 'beginning'")
	clearFailed := fs.Bool("clear-failed-keys", false, "reset: also forget the failed keys (records that failed under "+
		"policy Skip are then no longer retried)")
	inCluster := fs.Bool("in-cluster", false, "reset: the checkpoint ConfigMap of the SyncJob the environment names, to "+
		runcontract.EnvResetTo+", clearing the failed keys when "+runcontract.EnvResetClearFailedKeys+" is true (a reset Job's mode)")
	if err := fs.Parse(args[1:]); err != nil {
		return runcontract.ExitUsage, nil
	}
	if *inCluster {
		if args[0] != "reset" || *to != "" || *stateDir != "" || *clearFailed {
			return runcontract.ExitUsage, usageError{errors.New("checkpoint reset --in-cluster takes no other flag: the target is " +
				runcontract.EnvResetTo + ", clearing the failed keys " + runcontract.EnvResetClearFailedKeys)}
		}
		cfg, in, err := inClusterFromEnv()
		if err != nil {
			return runcontract.ExitFailed, err
		}
		return ResetInCluster(ctx, log, cfg, in, ResetRequest{
			To: os.Getenv(runcontract.EnvResetTo), Token: os.Getenv(runcontract.EnvRequestToken),
			ClearFailedKeys: os.Getenv(runcontract.EnvResetClearFailedKeys),
		}, stdout)
	}
	if *stateDir == "" {
		return runcontract.ExitUsage, usageError{errors.New("checkpoint needs --state-dir DIR")}
	}
	store := checkpoint.NewFileStore(*stateDir, "")
	if args[0] == "show" {
		st, err := store.Load(ctx)
		if err != nil {
			return runcontract.ExitFailed, err
		}
		return runcontract.ExitOK, writeJSON(stdout, st)
	}
	if *to == "" && !*clearFailed {
		return runcontract.ExitUsage, usageError{errors.New("reset needs --to RFC3339|beginning, --clear-failed-keys or both")}
	}
	var target *cursor.Cursor
	if *to != "" {
		t, err := runcontract.ParseResetTarget(*to)
		if err != nil {
			return runcontract.ExitUsage, usageError{err}
		}
		target = t
	}
	// Never while a run holds the lock.
	_, release, err := checkpoint.NewFileLock(*stateDir).Acquire(ctx)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset checkpoint: %w", err)
	}
	defer release()
	st, err := store.Load(ctx)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	if *to != "" {
		st.Cursor = target
	}
	if *clearFailed {
		checkpoint.ClearFailedKeys(&st)
	}
	if err := store.Save(ctx, st); err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset checkpoint: %w", err)
	}
	return runcontract.ExitOK, writeJSON(stdout, st)
}

// LoadJob reads a SyncJob from a YAML file, applies the schema's defaults and checks the
// rules admission would have checked. The file must hold exactly one SyncJob of this API
// version: another apiVersion or kind, a second non-empty YAML document and fields the
// schema does not know (matched case-sensitively, as the apiserver does) are refused.
func LoadJob(path string) (*syncv1.SyncJob, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SyncJob: %w", err)
	}
	doc, err := singleDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sj := &syncv1.SyncJob{}
	strict, err := sigsjson.UnmarshalStrict(doc, sj)
	if err != nil {
		return nil, fmt.Errorf("parse SyncJob %s: %w", path, err)
	}
	if err := errors.Join(strict...); err != nil {
		return nil, fmt.Errorf("parse SyncJob %s: %w", path, err)
	}
	if want := syncv1.GroupVersion.String(); sj.APIVersion != want {
		return nil, fmt.Errorf("%s: apiVersion is %q, want %s", path, sj.APIVersion, want)
	}
	if sj.Kind != "SyncJob" {
		return nil, fmt.Errorf("%s: kind is %q, want SyncJob", path, sj.Kind)
	}
	sj.Default()
	if err := sj.Validate(); err != nil {
		return nil, fmt.Errorf("SyncJob %s in %s is invalid: %w", sj.Name, path, err)
	}
	return sj, nil
}

// singleDocument splits a YAML stream into documents and returns the only non-empty one as
// JSON (documents holding nothing but comments or whitespace do not count). Duplicate keys
// are an error.
func singleDocument(data []byte) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read YAML: %w", err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("parse YAML document %d: %w", len(docs)+1, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue
		}
		docs = append(docs, j)
	}
	switch len(docs) {
	case 0:
		return nil, errors.New("no SyncJob in the file")
	case 1:
		return docs[0], nil
	default:
		return nil, fmt.Errorf("the file holds %d YAML documents, want exactly one SyncJob", len(docs))
	}
}

// newRunID returns a sortable, unique run ID: the UTC start time and a random suffix.
func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
