package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/jobconfig"
	"github.com/checkpointed/checkpointed/runner/report"
)

// terminationLog is where the in-cluster runner leaves a one-line summary for
// `kubectl describe pod` and the controller.
var terminationLog = "/dev/termination-log"

// runInCluster runs the sync of the SyncJob named by the Pod's environment, with the
// ConfigMap checkpoint, the Lease lock and the status writer. Its audit lines go to stdout
// (the container log).
func runInCluster(ctx context.Context, log logr.Logger, stdout io.Writer) (int, error) {
	name, ns := os.Getenv(runcontract.EnvJobName), os.Getenv(runcontract.EnvJobNamespace)
	if name == "" || ns == "" {
		return ExitFailed, fmt.Errorf("--in-cluster needs %s and %s", runcontract.EnvJobName, runcontract.EnvJobNamespace)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return ExitFailed, fmt.Errorf("in-cluster config: %w", err)
	}
	return RunInCluster(ctx, log, cfg, InCluster{Namespace: ns, Name: name, Pod: os.Getenv(runcontract.EnvPodName),
		Trigger: os.Getenv(runcontract.EnvTrigger), LockWait: DefaultLockWait}, stdout)
}

// DefaultLockWait is how long an in-cluster run waits for the run lock: a little more than
// one Lease duration, so that the Lease of a runner that died (OOMKilled, its Pod
// force-deleted) runs out and the new run proceeds, while a live runner, which renews its
// Lease, keeps it and the new run exits having done nothing.
const DefaultLockWait = checkpoint.DefaultLeaseDuration + 5*time.Second

// InCluster names the run of an in-cluster runner.
type InCluster struct {
	// Namespace and Name of the SyncJob.
	Namespace, Name string
	// Pod running the runner: the run ID.
	Pod string
	// Trigger of the run: Scheduled, Manual or Backfill.
	Trigger string
	// LockWait bounds the wait for a run lock another runner holds.
	LockWait time.Duration
}

// lockPoll is how often a run waiting for the lock tries again.
const lockPoll = 2 * time.Second

// RunInCluster runs one sync of a SyncJob against the apiserver at cfg.
func RunInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, stdout io.Writer) (int, error) {
	ns, name, pod, trigger := in.Namespace, in.Name, in.Pod, in.Trigger
	c, err := runstatus.NewClient(cfg)
	if err != nil {
		return ExitFailed, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return ExitFailed, err
	}
	sj := &syncv1.SyncJob{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sj); err != nil {
		return ExitFailed, fmt.Errorf("get SyncJob %s/%s: %w", ns, name, err)
	}
	sj.Default()
	if trigger == "" {
		trigger = runcontract.TriggerScheduled
	}
	// The run ID of an in-cluster run is its Pod's name: the controller recognises the runs
	// that reported by it.
	runID := pod
	if runID == "" {
		runID = newRunID()
	}
	writer := runstatus.NewWriter(c, ns, name, runstatus.Options{Instance: pod})
	engCfg, closeAll, err := jobconfig.Build(ctx, log, sj, runID, trigger)
	if err != nil {
		// The run could not even start (a missing Secret, a bad DSN, a bad expression):
		// record it as a failed run so that status says why.
		rec := syncv1.RunRecord{RunID: runID, Trigger: trigger, Phase: syncv1.RunPhaseFailed, Reason: runcontract.ReasonSetupFailed, Message: runstatus.Redact(err.Error())}
		if perr := writer.Publish(ctx, rec, nil); perr != nil {
			log.Error(perr, "publish failed run")
		}
		writeTermination(rec)
		return ExitFailed, err
	}
	defer closeAll()
	if from := os.Getenv(runcontract.EnvBackfillFrom); from != "" {
		rng, err := backfillRange(from, os.Getenv(runcontract.EnvBackfillTo), os.Getenv(runcontract.EnvBackfillKey))
		if err != nil {
			return ExitFailed, err
		}
		engCfg.Range = rng
	}
	engCfg.Store = checkpoint.NewConfigMapStore(cs, ns, name)
	engCfg.Lock = checkpoint.NewLeaseLock(cs, ns, name, checkpoint.NewHolderIdentity(pod), checkpoint.LeaseOptions{Log: log.WithName("lease")})
	engCfg.Publisher = report.Publisher(writer)
	engCfg.AuditOut = stdout
	res, err := engine.Run(ctx, engCfg)
	for deadline := time.Now().Add(in.LockWait); res.Locked && time.Now().Add(lockPoll).Before(deadline); {
		log.Info("another run holds the lock; waiting for it to end or for its Lease to run out", "reason", err.Error())
		select {
		case <-ctx.Done():
			return ExitFailed, ctx.Err()
		case <-time.After(lockPoll):
		}
		res, err = engine.Run(ctx, engCfg)
	}
	if res.Locked {
		fmt.Fprintf(stdout, "{\"msg\":\"another run holds the lock; nothing to do\",\"job\":%q}\n", name)
		return ExitOK, nil
	}
	var runErr *engine.RunError
	if err != nil && !errors.As(err, &runErr) {
		return ExitFailed, err
	}
	rec := report.RunRecord(res.Record)
	writeTermination(rec)
	return exitCode(rec.Phase), nil
}

// backfillRange reads a backfill's range; its key names its progress in the checkpoint.
func backfillRange(from, to, key string) (*engine.Range, error) {
	f, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return nil, fmt.Errorf("backfill from %q: %w", from, err)
	}
	t, err := time.Parse(time.RFC3339Nano, to)
	if err != nil {
		return nil, fmt.Errorf("backfill to %q: %w", to, err)
	}
	if key == "" {
		key = from + "/" + to
	}
	return &engine.Range{From: f.UTC(), To: t.UTC(), Key: key}, nil
}

// writeTermination leaves the run's one-line summary as the container's termination
// message, best effort.
func writeTermination(rec syncv1.RunRecord) {
	_ = os.WriteFile(terminationLog, []byte(runstatus.Summary(rec, rec.CursorEnd)+"\n"), 0o644)
}
