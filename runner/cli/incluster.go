package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/jobconfig"
	"github.com/checkpointed/checkpointed/runner/report"
)

// terminationLog is where the in-cluster runner leaves a one-line summary for
// `kubectl describe pod` and the controller.
var terminationLog = "/dev/termination-log"

// inClusterFromEnv reads what an in-cluster runner serves from its Pod: the SyncJob,
// the Pod and the trigger from the environment (runcontract.Env*), and the apiserver's
// address and the ServiceAccount's credentials from the Pod's mounts.
func inClusterFromEnv() (*rest.Config, InCluster, error) {
	name, ns := os.Getenv(runcontract.EnvJobName), os.Getenv(runcontract.EnvJobNamespace)
	if name == "" || ns == "" {
		return nil, InCluster{}, fmt.Errorf("--in-cluster needs %s and %s", runcontract.EnvJobName, runcontract.EnvJobNamespace)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, InCluster{}, fmt.Errorf("in-cluster config: %w", err)
	}
	return cfg, InCluster{Namespace: ns, Name: name, Pod: os.Getenv(runcontract.EnvPodName),
		Job: os.Getenv(runcontract.EnvRunJob), Trigger: os.Getenv(runcontract.EnvTrigger), LockWait: DefaultLockWait}, nil
}

// DefaultLockWait is how long an in-cluster run waits for the run lock: a little more than
// one Lease duration, so that the Lease of a runner that died (OOMKilled, its Pod
// force-deleted) runs out and the new run proceeds, while a live runner, which renews its
// Lease, keeps it and the new run exits having done nothing.
const DefaultLockWait = checkpoint.DefaultLeaseDuration + 5*time.Second

// InCluster names the SyncJob and the Pod an in-cluster runner serves.
type InCluster struct {
	// Namespace and Name of the SyncJob.
	Namespace, Name string
	// Pod running the runner: the run ID, and the Lease holder's and Events' name.
	Pod string
	// Job the Pod belongs to (runcontract.EnvRunJob); "" when not known.
	Job string
	// Trigger of the run: Scheduled, Manual or Backfill (Reset for a reset Job).
	Trigger string
	// LockWait bounds the wait for a run lock another runner holds.
	LockWait time.Duration
}

// lockPoll is how often a run waiting for the lock tries again.
const lockPoll = 2 * time.Second

// RunInCluster runs one sync of the SyncJob in against the apiserver at cfg, with the
// ConfigMap checkpoint, the Lease lock and the status writer; its audit lines go to
// stdout (the container log). A run lock another runner holds is waited for up to
// in.LockWait; still held, the run does nothing and exits 0.
func RunInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, stdout io.Writer) (int, error) {
	ns, name, pod, trigger := in.Namespace, in.Name, in.Pod, in.Trigger
	api, err := kubeapi.New(cfg)
	if err != nil {
		return runcontract.ExitFailed, err
	}
	sj, err := api.GetSyncJob(ctx, ns, name)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("get SyncJob %s/%s: %w", ns, name, err)
	}
	sj.Default()
	if trigger == "" {
		trigger = runcontract.TriggerScheduled
	}
	// The run's Job is read (a manual run or a scheduled one) while the connectors connect.
	triggered := make(chan string, 1)
	go func(t string) {
		if t == runcontract.TriggerScheduled && in.Job != "" {
			t = jobTrigger(ctx, log, api.Jobs(ns), in.Job, t)
		}
		triggered <- t
	}(trigger)
	// The run ID of an in-cluster run is its Pod's name: the controller recognises the runs
	// that reported by it.
	runID := pod
	if runID == "" {
		runID = newRunID()
	}
	writer := runstatus.NewWriter(api, ns, name, runstatus.Options{Instance: pod})
	engCfg, closeAll, err := jobconfig.Build(ctx, log, sj, runID, trigger)
	trigger = <-triggered
	engCfg.Trigger = trigger
	if err != nil {
		// The run could not even start (a missing Secret, a bad DSN, a bad expression):
		// record it as a failed run so that status says why.
		rec := syncv1.RunRecord{RunID: runID, Trigger: trigger, Phase: syncv1.RunPhaseFailed, Reason: runcontract.ReasonSetupFailed, Message: runstatus.Redact(err.Error())}
		if perr := writer.Publish(ctx, rec, nil); perr != nil {
			log.Error(perr, "publish failed run")
		}
		writeTermination(rec)
		return runcontract.ExitFailed, err
	}
	defer closeAll()
	if from := os.Getenv(runcontract.EnvBackfillFrom); from != "" {
		rng, err := backfillRange(from, os.Getenv(runcontract.EnvBackfillTo), os.Getenv(runcontract.EnvBackfillKey))
		if err != nil {
			return runcontract.ExitFailed, err
		}
		engCfg.Range = rng
	}
	if note := jobconfig.DeleteRequest(&engCfg, sj, os.Getenv(runcontract.EnvFullReconcile) == "true",
		os.Getenv(runcontract.EnvConfirmDeletes)); note != "" {
		log.Info(note)
	}
	engCfg.Store = checkpoint.NewConfigMapStore(api.ConfigMaps(ns), ns, name)
	engCfg.Lock = checkpoint.NewLeaseLock(api.Leases(ns), ns, name, checkpoint.NewHolderIdentity(pod), checkpoint.LeaseOptions{Log: log.WithName("lease")})
	engCfg.Publisher = report.Publisher(writer)
	engCfg.AuditOut = stdout
	res, err := engine.Run(ctx, engCfg)
	for deadline := time.Now().Add(in.LockWait); res.Locked && time.Now().Add(lockPoll).Before(deadline); {
		log.Info("another run holds the lock; waiting for it to end or for its Lease to run out", "reason", err.Error())
		select {
		case <-ctx.Done():
			return runcontract.ExitFailed, ctx.Err()
		case <-time.After(lockPoll):
		}
		res, err = engine.Run(ctx, engCfg)
	}
	if res.Locked {
		fmt.Fprintf(stdout, "{\"msg\":\"another run holds the lock; nothing to do\",\"job\":%q}\n", name)
		return runcontract.ExitOK, nil
	}
	var runErr *engine.RunError
	if err != nil && !errors.As(err, &runErr) {
		return runcontract.ExitFailed, err
	}
	rec := report.RunRecord(res.Record)
	writeTermination(rec)
	return inClusterExitCode(rec.Phase), nil
}

// jobTrigger is the trigger of the run in Job job (one of jobs) whose template says
// trigger: Manual for a Job made by hand from the CronJob (runcontract.JobTrigger). A Job
// that cannot be read leaves trigger as it is, and says so in the log.
func jobTrigger(ctx context.Context, log logr.Logger, jobs kubeapi.Jobs, job, trigger string) string {
	j, err := jobs.Get(ctx, job, metav1.GetOptions{})
	if err != nil {
		log.Error(err, "cannot read the run's Job to tell a manual run from a scheduled one; recording the template's trigger",
			"job", job, "trigger", trigger)
		return trigger
	}
	return runcontract.JobTrigger(j.Annotations, trigger)
}

// inClusterExitCode is exitCode for a run in a Job: a PartiallySucceeded run exits 0 so
// that its Job completes, telling the same story as the SyncJob (Ready=True, reason
// PartiallyFailed) and its Warning RunPartiallySucceeded Event; Job-failure alerts fire only
// for runs that failed.
func inClusterExitCode(p syncv1.RunPhase) int {
	if p == syncv1.RunPhasePartiallySucceeded {
		return runcontract.ExitOK
	}
	return exitCode(p)
}

// ResetRequest is what a reset Job asks for.
type ResetRequest struct {
	// To is where the checkpoint moves: "beginning" or an RFC3339 time
	// (runcontract.EnvResetTo).
	To string
	// Token is the request token the Job was made for (runcontract.EnvRequestToken); the
	// Events name it.
	Token string
	// ClearFailedKeys, "true", also clears the checkpoint's failed keys
	// (runcontract.EnvResetClearFailedKeys; "" or "false" keeps them).
	ClearFailedKeys string
}

// Event reasons of a checkpoint reset.
const (
	// ReasonCheckpointReset (Normal): the checkpoint was moved.
	ReasonCheckpointReset = "CheckpointReset"
	// ReasonInvalidResetRequest (Warning): the reset target is neither "beginning" nor an
	// RFC3339 time; nothing was written.
	ReasonInvalidResetRequest = "InvalidResetRequest"
)

// ResetInCluster moves the checkpoint of the SyncJob in to req.To, as a reset Job does,
// against the apiserver at cfg. It holds the run Lease while it does (waiting up to
// in.LockWait for a run that holds it), sets the ConfigMap checkpoint's cursor with
// compare-and-swap, keeping the backfills, the last run and (unless req.ClearFailedKeys)
// the failed keys, and emits a
// Normal CheckpointReset Event on the SyncJob. It records req.Token in the checkpoint
// (LastResetRequest) and does nothing for a token already applied. Of the status it writes
// only status.cursor (the new stored cursor; removed for the beginning): a reset is not a run.
// The new checkpoint is printed to stdout.
//
// Exit codes: runcontract.ExitOK when the checkpoint was reset (also when only the Event failed: the
// returned error says so, and the Job must not reset again); runcontract.ExitUsage when the target is
// invalid (a Warning InvalidResetRequest Event says why; nothing was written and a retry
// cannot help); runcontract.ExitFailed otherwise, the run Lease still held included, so that the Job
// retries.
func ResetInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, req ResetRequest, stdout io.Writer) (int, error) {
	api, err := kubeapi.New(cfg)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset request %q: %w", req.Token, err)
	}
	events := runstatus.NewWriter(api, in.Namespace, in.Name, runstatus.Options{Instance: in.Pod})
	target, err := runcontract.ParseResetTarget(req.To)
	if err != nil {
		err = fmt.Errorf("annotation %s: %w", syncv1.ResetToAnnotation, err)
	}
	clearFailed, cerr := runcontract.ParseClearFailedKeys(req.ClearFailedKeys)
	if err == nil && cerr != nil {
		err = fmt.Errorf("%s %w", runcontract.EnvResetClearFailedKeys, cerr)
	}
	if err != nil {
		msg := fmt.Sprintf("reset request %q: %v", req.Token, err)
		if eerr := events.Event(ctx, corev1.EventTypeWarning, ReasonInvalidResetRequest, msg); eerr != nil {
			log.Error(eerr, "emit event")
		}
		return runcontract.ExitUsage, errors.New(msg)
	}

	lock := checkpoint.NewLeaseLock(api.Leases(in.Namespace), in.Namespace, in.Name, checkpoint.NewHolderIdentity(in.Pod),
		checkpoint.LeaseOptions{Log: log.WithName("lease")})
	held, release, err := acquireWaiting(ctx, log, lock, in.LockWait)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset request %q: %w", req.Token, err)
	}
	defer release()
	store := checkpoint.NewConfigMapStore(api.ConfigMaps(in.Namespace), in.Namespace, in.Name)
	st, err := store.Load(held)
	if err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset request %q: %w", req.Token, err)
	}
	if req.Token != "" && st.LastResetRequest == req.Token {
		// This request was applied already (a retried Pod, a Job created twice): the
		// checkpoint may have moved on since, and a second reset would re-read everything.
		release()
		log.Info("reset request already applied, nothing to do", "request", req.Token)
		return runcontract.ExitOK, nil
	}
	st.Cursor = target
	st.LastResetRequest = req.Token
	if clearFailed {
		checkpoint.ClearFailedKeys(&st)
	}
	if err := store.Save(held, st); err != nil {
		return runcontract.ExitFailed, fmt.Errorf("reset request %q: %w", req.Token, err)
	}
	release()
	// status.cursor shows the stored checkpoint: publish the new one (the beginning
	// removes it). A failure here leaves a stale status cursor, not a wrong checkpoint:
	// logged, and the next run publishes it again.
	var published *syncv1.Cursor
	if target != nil {
		published = runstatus.CursorOf(target)
	}
	if err := events.PublishCursor(ctx, published); err != nil {
		log.Error(err, "publish the reset cursor in status", "request", req.Token)
	}

	where := "the beginning"
	if target != nil {
		where = target.Format()
	}
	log.Info("checkpoint reset", "request", req.Token, "to", where)
	if err := writeJSON(stdout, st); err != nil {
		log.Error(err, "print checkpoint")
	}
	msg := fmt.Sprintf("reset request %q: the checkpoint now starts at %s", req.Token, where)
	if clearFailed {
		msg += ", its failed keys cleared"
	}
	if err := events.Event(ctx, corev1.EventTypeNormal, ReasonCheckpointReset, msg); err != nil {
		return runcontract.ExitOK, fmt.Errorf("reset request %q: checkpoint reset, but %w", req.Token, err)
	}
	return runcontract.ExitOK, nil
}

// acquireWaiting takes the run lock, waiting up to wait (polling every lockPoll) while
// another holder has it; then it returns the wrapped checkpoint.ErrLocked.
func acquireWaiting(ctx context.Context, log logr.Logger, lock *checkpoint.LeaseLock, wait time.Duration) (context.Context, func(), error) {
	deadline := time.Now().Add(wait)
	for {
		held, release, err := lock.Acquire(ctx)
		if err == nil || !errors.Is(err, checkpoint.ErrLocked) || !time.Now().Add(lockPoll).Before(deadline) {
			return held, release, err
		}
		log.Info("another run holds the lock; waiting for it to end or for its Lease to run out", "reason", err.Error())
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("wait for the run lock: %w", ctx.Err())
		case <-time.After(lockPoll):
		}
	}
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
