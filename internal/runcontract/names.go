package runcontract

import (
	"fmt"
	"hash/fnv"
)

// Names of the objects owned by the SyncJob named job, all in its namespace.
func CronJobName(job string) string { return job }

// ServiceAccountName is the runner's ServiceAccount, Role and RoleBinding.
func ServiceAccountName(job string) string { return job + "-runner" }

// CheckpointConfigMapName is the ConfigMap that holds the checkpoint under CheckpointKey.
func CheckpointConfigMapName(job string) string { return job + "-checkpoint" }

// LeaseName is the coordination.k8s.io Lease that is the run lock.
func LeaseName(job string) string { return job + "-run" }

// CheckpointKey is the checkpoint ConfigMap's key holding the Checkpoint as JSON.
const CheckpointKey = "checkpoint.json"

// Labels and annotations on the objects, Jobs and Pods of a SyncJob.
const (
	// LabelJob marks every object, Job and Pod of one SyncJob with the SyncJob's name.
	LabelJob = "sync.checkpointed.io/syncjob"
	// LabelManagedBy with value ManagedBy marks every object the controller owns.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is LabelManagedBy's value.
	ManagedBy = "checkpointed"
	// AnnotationRequest on a requested Job holds the request token it was made for.
	AnnotationRequest = "sync.checkpointed.io/request"
)

// RequestKind is the kind of an operator request that becomes a Job; it is part of the
// Job's name.
type RequestKind string

// Request kinds.
const (
	// KindRun is a run requested with run-requested-at.
	KindRun RequestKind = "m"
	// KindBackfill is a backfill run requested with backfill-requested-at.
	KindBackfill RequestKind = "b"
	// KindReset is a checkpoint reset requested with reset-requested-at.
	KindReset RequestKind = "r"
	// KindReconcile is a run with full key reconciliation requested with
	// reconcile-requested-at.
	KindReconcile RequestKind = "f"
)

// RequestedJobName is "<job>-<kind>-<8 hex digits of the token's hash>" (at most 63
// characters for a SyncJob name of at most 52): one token gives one Job name, so a request
// can never start two Jobs.
func RequestedJobName(job string, kind RequestKind, token string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(token))
	return fmt.Sprintf("%s-%s-%08x", job, kind, h.Sum32())
}
