// Package runcontract is the whole agreement between the controller and the runner, and
// the only code they share besides the API types and the runner-owned status writer
// (package runstatus): the names of the objects a SyncJob owns, the checkpoint
// ConfigMap's key and JSON shape, the run Lease, the environment and arguments of a runner
// Pod, the field managers, the trigger values, and the reasons a run fails.
//
// The controller imports no runner package and the runner no controller package; what one
// writes and the other reads is defined here once. Run phases are API values
// (v1alpha1.RunPhase*), the request annotations too (v1alpha1.*Annotation).
package runcontract
