package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/schedule"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/explain"
	"github.com/checkpointed/checkpointed/runner/jobconfig"
)

// runExplain answers why one source record is, or is not, in the sink (local mode):
//
//	runner explain -f job.yaml --state-dir DIR <source id>
//	runner explain --in-cluster <source id>
//
// It prints the verdict line, the evidence and the next action; it writes nothing.
func runExplain(ctx context.Context, log logr.Logger, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flagSet("explain", stderr)
	file := fs.String("f", "", "SyncJob YAML file")
	stateDir := fs.String("state-dir", "", "directory of the local checkpoint and record log")
	inCluster := fs.Bool("in-cluster", false, "read the SyncJob, its checkpoint and record log from the API (a one-off Job's mode)")
	if err := fs.Parse(args); err != nil {
		return runcontract.ExitUsage, nil
	}
	rest := fs.Args()
	if len(rest) > 0 { // flags may follow the id
		id := rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return runcontract.ExitUsage, nil
		}
		rest = append([]string{id}, fs.Args()...)
	}
	if *inCluster {
		if *file != "" || *stateDir != "" || len(rest) != 1 || rest[0] == "" {
			return runcontract.ExitUsage, usageError{errors.New("explain --in-cluster needs one source id and neither -f nor --state-dir")}
		}
		cfg, in, err := inClusterFromEnv()
		if err != nil {
			return runcontract.ExitFailed, err
		}
		return ExplainInCluster(ctx, log, cfg, in, rest[0], time.Now(), stdout)
	}
	if *file == "" || *stateDir == "" || len(rest) != 1 || rest[0] == "" {
		return runcontract.ExitUsage, usageError{errors.New("explain needs -f job.yaml, --state-dir DIR and one source id")}
	}
	sj, err := LoadJob(*file)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	store := checkpoint.NewFileStore(*stateDir, sj.Name)
	return Explain(ctx, log, sj, store, &explain.Local{JobFile: *file, StateDir: *stateDir}, rest[0], time.Now(), stdout)
}

// Explain gathers the evidence about source id for sj from its source, its sink and state,
// decides and prints the verdict. local nil means the next actions are kubectl commands
// (in a cluster, state is the checkpoint ConfigMap's store).
func Explain(ctx context.Context, log logr.Logger, sj *syncv1.SyncJob, state explain.State, local *explain.Local,
	id string, now time.Time, stdout io.Writer) (int, error) {
	cfg, closeAll, err := jobconfig.Build(ctx, log, sj, newRunID(), runcontract.TriggerPlan)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	defer closeAll()
	in := explain.Inputs{
		Job: sj.Name, Namespace: sj.Namespace, Source: cfg.Source, Sink: cfg.Sink, Mapper: cfg.Mapper, State: state,
		SafetyGap: cfg.SafetyGap, Schedule: sj.Spec.Schedule, DeletesMode: sj.Spec.Deletes.Mode, Local: local, Now: now,
	}
	zone := ""
	if sj.Spec.TimeZone != nil {
		zone = *sj.Spec.TimeZone
	}
	if s, err := schedule.Parse(sj.Spec.Schedule, zone); err == nil {
		in.NextRun = s.Next(now)
	}
	ev, err := explain.Gather(ctx, in, id)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	if err := explain.Render(stdout, ev, explain.Decide(ev)); err != nil {
		return runcontract.ExitFailed, fmt.Errorf("explain %s: %w", id, err)
	}
	return runcontract.ExitOK, nil
}

// ExplainInCluster answers explain for source id of the SyncJob in, against the apiserver
// at cfg, as the one-off Job of `kubectl syncjob explain` does: the SyncJob from the API,
// the checkpoint and the record log from its ConfigMap, the credentials from the Pod's
// environment. It takes no run lock and writes nothing (no status, no checkpoint, no
// Event), so it may run beside a sync; its next actions are kubectl commands.
func ExplainInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, id string, now time.Time, stdout io.Writer) (int, error) {
	api, err := kubeapi.New(cfg)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("explain %s: %w", id, err)
	}
	sj, err := api.GetSyncJob(ctx, in.Namespace, in.Name)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("explain %s: get SyncJob %s/%s: %w", id, in.Namespace, in.Name, err)
	}
	sj.Default()
	return Explain(ctx, log, sj, checkpoint.NewConfigMapStore(api.ConfigMaps(in.Namespace), in.Namespace, in.Name), nil, id, now, stdout)
}
