package engine

import (
	"context"
	"errors"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// fail records the first reason the run stops as Failed.
func (r *run) fail(reason, msg string, err error) {
	if r.failure == nil {
		r.failure = &RunError{Phase: audit.PhaseFailed, Reason: reason, Message: msg, Err: err}
	}
}

// interrupt records that the run was cancelled (signal or lost lock), with the
// cancellation's cause; lockLost tells the two apart once the run has stopped.
func (r *run) interrupt(ctx context.Context) {
	if r.failure != nil {
		return
	}
	r.failure = &RunError{Phase: audit.PhaseInterrupted, Reason: runcontract.ReasonCancelled,
		Message: "cancelled; the last committed cursor was stored", Err: context.Cause(ctx)}
}

// lockLost reclassifies an interruption as LockLost when the run's context ended because
// the run lock was lost while the caller's context (parent) is still live: a signal wins.
func (r *run) lockLost(parent context.Context) {
	f := r.failure
	if f == nil || f.Phase != audit.PhaseInterrupted || f.Reason != runcontract.ReasonCancelled {
		return
	}
	if parent.Err() == nil && errors.Is(f.Err, errLockLost) {
		f.Reason, f.Message = runcontract.ReasonLockLost, "the run lock was lost; the last committed cursor was stored"
	}
}

// stopOn ends the run on an operation's error: Interrupted if the run was cancelled, else
// Failed with reason.
func (r *run) stopOn(ctx context.Context, reason, msg string, err error) {
	if ctx.Err() != nil {
		r.interrupt(ctx)
		return
	}
	r.fail(reason, msg, err)
}

// mapRecord maps rec, unless the source found it unusable as read
// (connector.RecordChecker): then its error fails the record like a mapping error.
// Safe for the read-ahead goroutine: it reads only the configuration.
func (r *run) mapRecord(rec connector.Record) (connector.WriteRecord, error) {
	if rc, ok := r.cfg.Source.(connector.RecordChecker); ok {
		if err := rc.RecordError(rec); err != nil {
			return connector.WriteRecord{}, err
		}
	}
	w, err := r.cfg.Mapper.Map(rec)
	if err == nil && r.rows != nil { // Snapshot: the hash of the record as read
		w.Hash = RowHash(r.rows.fingerprint, rec)
	}
	return w, err
}

// mapError turns a mapping error into a record error.
func mapError(rec connector.Record, err error) *connector.RecordError {
	if re := recordError(rec, err); re != nil {
		return re
	}
	return &connector.RecordError{ID: rec.ID, Reason: "mapping failed", Detail: err.Error()}
}

// recordError returns the *connector.RecordError err wraps, naming rec when it names no
// record; nil when err wraps none.
func recordError(rec connector.Record, err error) *connector.RecordError {
	var re *connector.RecordError
	if !errors.As(err, &re) {
		return nil
	}
	if re.ID == "" {
		c := *re
		c.ID = rec.ID
		return &c
	}
	return re
}

// sinkError turns a Failed result into a record error.
func sinkError(rec connector.Record, err error) *connector.RecordError {
	if re := recordError(rec, err); re != nil {
		return re
	}
	detail := "no reason given"
	if err != nil {
		detail = err.Error()
	}
	return &connector.RecordError{ID: rec.ID, Reason: "rejected by sink", Detail: detail}
}

// reasoner is an error that names the run's failure reason more precisely than "the
// source" or "the sink": the HTTP connectors' "HTTP503" or "Timeout". An empty Reason
// names none.
type reasoner interface{ Reason() string }

// connectorReason is the reason of a source or sink error: RateLimited for a rate limit,
// else the reason the error names, else fallback.
func connectorReason(err error, fallback string) string {
	if errors.Is(err, connector.ErrRateLimited) {
		return runcontract.ReasonRateLimited
	}
	var r reasoner
	if errors.As(err, &r) && r.Reason() != "" {
		return r.Reason()
	}
	return fallback
}

func sourceReason(err error) string { return connectorReason(err, runcontract.ReasonSourceError) }

func sinkReason(err error) string { return connectorReason(err, runcontract.ReasonSinkError) }
