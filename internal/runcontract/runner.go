package runcontract

import "strings"

// Environment of a runner Pod besides the credentials (see SecretEnvName).
const (
	// EnvJobName is the SyncJob's name.
	EnvJobName = "CHECKPOINTED_SYNCJOB"
	// EnvJobNamespace is the SyncJob's namespace.
	EnvJobNamespace = "CHECKPOINTED_NAMESPACE"
	// EnvPodName is the runner Pod's name, the run ID of an in-cluster run.
	EnvPodName = "CHECKPOINTED_POD"
	// EnvTrigger is why the run runs: one of the Trigger values.
	EnvTrigger = "CHECKPOINTED_TRIGGER"
	// EnvRunJob is the name of the Job the runner Pod belongs to: the Pod's label
	// LabelJobName through the downward API (the Job is named by whoever made it: the
	// CronJob, the controller or `kubectl create job`).
	EnvRunJob = "CHECKPOINTED_RUN_JOB"
	// EnvBackfillFrom and EnvBackfillTo are the RFC3339 range [from, to) of a backfill run.
	EnvBackfillFrom = "CHECKPOINTED_BACKFILL_FROM"
	EnvBackfillTo   = "CHECKPOINTED_BACKFILL_TO"
	// EnvBackfillKey names a backfill's progress in the checkpoint (its request token).
	EnvBackfillKey = "CHECKPOINTED_BACKFILL_KEY"
	// EnvResetTo is where a reset Job moves the checkpoint: "beginning" or an RFC3339 time.
	EnvResetTo = "CHECKPOINTED_RESET_TO"
	// EnvResetClearFailedKeys, "true", makes a reset Job also clear the checkpoint's failed
	// keys (runner checkpoint reset --clear-failed-keys).
	EnvResetClearFailedKeys = "CHECKPOINTED_RESET_CLEAR_FAILED_KEYS"
	// EnvFullReconcile, "true", makes the run end with a full key reconciliation whatever
	// spec.deletes.fullReconcile says (a reconcile-requested-at request; --full-reconcile
	// locally).
	EnvFullReconcile = "CHECKPOINTED_FULL_RECONCILE"
	// EnvConfirmDeletes carries the token a run printed when the delete valve refused its
	// deletes (sync.checkpointed.io/confirm-deletes; --confirm-deletes locally): a run whose
	// deletes match the token deletes them.
	EnvConfirmDeletes = "CHECKPOINTED_CONFIRM_DELETES"
	// ConfirmDeletesAnnotation is v1alpha1.ConfirmDeletesAnnotation, which the runner names
	// in a DeleteValve message (the runner's engine imports no API package; a test keeps
	// the two equal).
	ConfirmDeletesAnnotation = "sync.checkpointed.io/confirm-deletes"
	// ReconcileRequestedAnnotation is v1alpha1.ReconcileRequestedAnnotation, named in a
	// DeleteValve message.
	ReconcileRequestedAnnotation = "sync.checkpointed.io/reconcile-requested-at"
	// EnvRequestToken is the request token a requested Job was made for (reset Jobs name
	// it in their Event).
	EnvRequestToken = "CHECKPOINTED_REQUEST_TOKEN"
)

// Arguments of the runner container.
var (
	// SyncArgs run one sync of the SyncJob named by the environment.
	SyncArgs = []string{"sync", "--in-cluster"}
	// ResetArgs rewrite the checkpoint to EnvResetTo, holding the run Lease.
	ResetArgs = []string{"checkpoint", "reset", "--in-cluster"}
	// ExplainArgs, followed by one source id, answer why that record is (not) in the sink:
	// the one-off Job of `kubectl syncjob explain`; it takes no lock and writes nothing.
	ExplainArgs = []string{"explain", "--in-cluster"}
)

// Exit codes of the runner process: a Job's outcome is read from them.
const (
	// ExitOK: the run Succeeded, the reset was done, or another run held the lock.
	ExitOK = 0
	// ExitFailed: the run Failed or was Interrupted, or the command could not finish; a
	// retry may help.
	ExitFailed = 1
	// ExitUsage: the command line or the request is invalid (a reset target that is neither
	// "beginning" nor RFC3339); a retry cannot help, so a Job fails at once.
	ExitUsage = 2
	// ExitPartial: the run PartiallySucceeded (records failed and were recorded). Local mode
	// only: in a Job such a run exits ExitOK, so that the Job completes while the SyncJob
	// stays Ready (reason PartiallyFailed) with a Warning RunPartiallySucceeded Event.
	ExitPartial = 3
)

// RunnerUID is the non-root user and group the runner runs as (the images' user).
const RunnerUID = 65532

// Field managers of server-side apply, one per writer of a SyncJob's status.
const (
	// ControllerFieldManager owns the controller's status fields and every owned object.
	ControllerFieldManager = "checkpointed-controller"
	// RunnerFieldManager owns the runner's status fields (cursor, lastRun,
	// lastSuccessfulRunTime, history). The controller writes under it only on the
	// runner's behalf, for a run that died before it could report.
	RunnerFieldManager = "checkpointed-runner"
)

// Trigger says why a run ran (status.lastRun.trigger, EnvTrigger).
const (
	TriggerScheduled = "Scheduled"
	TriggerManual    = "Manual"
	TriggerBackfill  = "Backfill"
	TriggerReset     = "Reset"
	TriggerLocal     = "Local"
	TriggerPlan      = "Plan"
)

// Reasons of a failed or interrupted run (status.lastRun.reason), whoever recorded it.
const (
	// ReasonRecordError: a record failed under policy Halt.
	ReasonRecordError = "RecordError"
	// ReasonTooManyErrors: more than maxErrors records failed.
	ReasonTooManyErrors = "TooManyErrors"
	// ReasonFailedKeysFull: a record failed under policy Skip while the checkpoint's failed
	// keys were full (MaxFailedKeys); the cursor stops before it, so nothing is dropped.
	ReasonFailedKeysFull = "FailedKeysFull"
	// ReasonSinkError: the sink did not confirm a batch.
	ReasonSinkError = "SinkError"
	// ReasonSourceError: the source could not be read.
	ReasonSourceError = "SourceError"
	// ReasonRateLimited: the source or sink exhausted its retries on 429 answers.
	ReasonRateLimited = "RateLimited"
	// ReasonCheckpointConflict: another runner moved the checkpoint.
	ReasonCheckpointConflict = "CheckpointConflict"
	// ReasonCheckpointError: the checkpoint could not be loaded or stored.
	ReasonCheckpointError = "CheckpointError"
	// ReasonCancelled: the run was cancelled (SIGTERM, SIGINT).
	ReasonCancelled = "Cancelled"
	// ReasonLockLost: the run lock was lost while the run held it.
	ReasonLockLost = "LockLost"
	// ReasonMappingPathMissing: a mapping entry's from path is on none of a page's records
	// (a typo in the path, for a source whose fields are not known before reading); the
	// page is not written.
	ReasonMappingPathMissing = "MappingPathMissing"
	// ReasonDeleteValve: the run would have deleted more than spec.deletes.maxFractionPercent
	// of the sink's keys; it deleted nothing (records were still synced) and names the
	// confirmation token.
	ReasonDeleteValve = "DeleteValve"
	// ReasonSetupFailed: the run could not start (a missing Secret, a bad DSN, a bad
	// expression); recorded by the runner.
	ReasonSetupFailed = "SetupFailed"
	// ReasonOOMKilled: the runner Pod exceeded its memory limit; recorded by the controller.
	ReasonOOMKilled = "OOMKilled"
	// ReasonDeadlineExceeded: the run's Job passed activeDeadlineSeconds; recorded by the
	// controller.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonRunnerCrashed: the runner exited before reporting; recorded by the controller.
	ReasonRunnerCrashed = "RunnerCrashed"
)

// SecretEnvName is the environment variable that carries key of Secret secret to the
// runner: "<SECRET>_<KEY>" upper-cased, every character outside [A-Z0-9_] ("-", ".", ...)
// replaced by "_" (Secret "billing-db", key "dsn" → "BILLING_DB_DSN"). The controller
// maps each secretKeyRef of a SyncJob to such a variable with valueFrom.secretKeyRef, so
// the runner never reads Secrets through the API, and local mode reads the same variables,
// so one SyncJob file works in both places.
func SecretEnvName(secret, key string) string {
	return sanitize(secret) + "_" + sanitize(key)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}
