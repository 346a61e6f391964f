package runcontract

import (
	"fmt"
	"strings"
)

// PlanArgs run a preflight of the SyncJob named by the environment: connect to the source
// and the sink, check tables, columns and the sink's column types, map one page, write
// nothing (no sink write, no checkpoint, no status).
var PlanArgs = []string{"plan", "--in-cluster"}

// KindPlan is a preflight requested with plan-requested-at.
const KindPlan RequestKind = "p"

// LabelPreflight marks a preflight Job and its Pod; its value is the spec generation the
// preflight checks. Preflight Jobs are not runs: they never become lastRun.
const LabelPreflight = "sync.checkpointed.io/preflight"

// PreflightTTLSeconds is how long a finished preflight Job is kept
// (ttlSecondsAfterFinished): long enough to read its logs.
const PreflightTTLSeconds int32 = 3600

// PreflightDeadlineSeconds bounds a preflight Job (activeDeadlineSeconds).
const PreflightDeadlineSeconds int64 = 300

// PreflightJobName is "<job>-pf-<generation>": one preflight Job per spec generation.
func PreflightJobName(job string, generation int64) string {
	return fmt.Sprintf("%s-pf-%d", job, generation)
}

// Termination message prefixes of a preflight: the runner writes
// "<PreflightPassedPrefix> <message>" or "<PreflightFailedPrefix> <message>".
const (
	PreflightPassedPrefix = "PreflightPassed:"
	PreflightFailedPrefix = "PreflightFailed:"
)

// PreflightMessage is the termination message of a preflight that passed or failed.
func PreflightMessage(passed bool, msg string) string {
	if passed {
		return PreflightPassedPrefix + " " + msg
	}
	return PreflightFailedPrefix + " " + msg
}

// ParsePreflightMessage reads a preflight's termination message: passed, the message, and
// ok=false when it is not one the runner wrote (a crash's log tail).
func ParsePreflightMessage(s string) (passed bool, msg string, ok bool) {
	s = strings.TrimSpace(s)
	if m, found := strings.CutPrefix(s, PreflightPassedPrefix); found {
		return true, strings.TrimSpace(m), true
	}
	if m, found := strings.CutPrefix(s, PreflightFailedPrefix); found {
		return false, strings.TrimSpace(m), true
	}
	return false, "", false
}
