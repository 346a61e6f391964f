// Package runstatus publishes a run's outcome on its SyncJob: the runner's own status fields,
// written with server-side apply so the controller's fields stay the controller's, and one
// Event per finished run.
package runstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// MaxHistory bounds status.history.
const MaxHistory = 10

// Event reasons, one per final run phase.
const (
	ReasonRunSucceeded          = "RunSucceeded"
	ReasonRunPartiallySucceeded = "RunPartiallySucceeded"
	ReasonRunFailed             = "RunFailed"
	ReasonRunInterrupted        = "RunInterrupted"
)

// maxEventMessage bounds an Event's message (the events.k8s.io note limit).
const maxEventMessage = 1024

// Options tune a Writer; zero values take the defaults.
type Options struct {
	// Clock stamps events and a successful run without a completion time (real if nil).
	Clock clock.PassiveClock
	// Instance names this runner in events (reportingInstance), typically the pod name.
	Instance string
}

// API is what a Writer needs of the apiserver, and all it does there: read the SyncJob,
// apply its status, create an Event. The runner passes its own client (kubeapi.Client);
// the controller, which writes on a dead runner's behalf, an adapter of its
// controller-runtime client.
type API interface {
	// GetSyncJob reads the SyncJob namespace/name.
	GetSyncJob(ctx context.Context, namespace, name string) (*syncv1.SyncJob, error)
	// ApplySyncJobStatus applies obj (apiVersion, kind, namespace, name and status fields
	// only) to the status subresource of the SyncJob it names, by server-side apply under
	// fieldManager, forcing ownership of the fields it sets.
	ApplySyncJobStatus(ctx context.Context, obj *unstructured.Unstructured, fieldManager string) error
	// CreateEvent creates ev in its namespace.
	CreateEvent(ctx context.Context, ev *corev1.Event) error
}

// Writer publishes runs of one SyncJob. It needs only get on the SyncJob, patch on its
// status and create on events: it never lists or watches.
type Writer struct {
	api       API
	namespace string
	name      string
	clock     clock.PassiveClock
	instance  string
}

// NewWriter returns the writer for the SyncJob namespace/name. api should read from the
// apiserver directly (not from a cache).
func NewWriter(api API, namespace, name string, opts Options) *Writer {
	w := &Writer{api: api, namespace: namespace, name: name, clock: opts.Clock, instance: opts.Instance}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	return w
}

// runnerStatus is the part of SyncJobStatus the runner owns; nothing else is ever applied.
type runnerStatus struct {
	Cursor                *syncv1.Cursor      `json:"cursor,omitempty"`
	LastRun               *syncv1.RunRecord   `json:"lastRun,omitempty"`
	LastSuccessfulRunTime *metav1.Time        `json:"lastSuccessfulRunTime,omitempty"`
	History               []syncv1.RunSummary `json:"history,omitempty"`
}

// Publish records rec on the SyncJob's status and, for a finished run, emits one Event.
//
// It reads the SyncJob first, then applies (field manager runcontract.RunnerFieldManager, forced) exactly
// status.cursor, status.lastRun, status.lastSuccessfulRunTime and status.history:
//   - cursor is the given stored cursor; nil keeps the current one.
//   - lastRun is rec, with credentials in its message redacted.
//   - lastSuccessfulRunTime becomes rec's completion time (now if unset) when the phase is
//     Succeeded or PartiallySucceeded, and keeps its current value otherwise.
//   - history gets Summary's line on top (replacing the top line of the same run, so a
//     retried Publish does not duplicate it), newest first, at most MaxHistory lines.
//
// A Running record (progress during a run) updates cursor and lastRun only: no history
// line and no Event. The Event is Normal RunSucceeded, or Warning RunPartiallySucceeded/
// RunFailed/RunInterrupted with the summary line as message. An error from the Event is
// returned after the status was written.
func (w *Writer) Publish(ctx context.Context, rec syncv1.RunRecord, cursor *syncv1.Cursor) error {
	sj, err := w.api.GetSyncJob(ctx, w.namespace, w.name)
	if err != nil {
		return fmt.Errorf("publish run %s: get SyncJob %s/%s: %w", rec.RunID, w.namespace, w.name, err)
	}
	rec = *rec.DeepCopy()
	rec.Message = Redact(rec.Message)

	st := runnerStatus{
		Cursor:                sj.Status.Cursor,
		LastRun:               &rec,
		LastSuccessfulRunTime: sj.Status.LastSuccessfulRunTime,
		History:               sj.Status.History,
	}
	if cursor != nil {
		st.Cursor = cursor.DeepCopy()
	}
	line := Summary(rec, st.Cursor)
	final := rec.Phase != syncv1.RunPhaseRunning
	if final {
		st.History = pushHistory(sj.Status.History, syncv1.RunSummary{
			RunID: rec.RunID, Phase: rec.Phase, StartTime: rec.StartTime, Summary: line,
		})
	}
	if rec.Phase == syncv1.RunPhaseSucceeded || rec.Phase == syncv1.RunPhasePartiallySucceeded {
		done := rec.CompletionTime
		if done == nil {
			now := metav1.NewTime(w.clock.Now())
			done = &now
		}
		st.LastSuccessfulRunTime = done
	}

	apply, err := w.applyObject(st)
	if err != nil {
		return fmt.Errorf("publish run %s: %w", rec.RunID, err)
	}
	if err := w.api.ApplySyncJobStatus(ctx, apply, runcontract.RunnerFieldManager); err != nil {
		return fmt.Errorf("publish run %s: apply status of SyncJob %s/%s: %w", rec.RunID, w.namespace, w.name, err)
	}

	if !final {
		return nil
	}
	eventType, reason := eventFor(rec.Phase)
	if err := w.emit(ctx, sj, eventType, reason, line); err != nil {
		return fmt.Errorf("publish run %s: status written, but %w", rec.RunID, err)
	}
	return nil
}

// PublishCursor sets status.cursor to cursor, the stored checkpoint's cursor after
// something other than a run moved it (a checkpoint reset); nil — the beginning — removes
// the field. lastRun, lastSuccessfulRunTime and history are applied unchanged (they are
// owned by the same field manager: leaving them out of the apply would remove them). No
// Event: the caller records its own.
func (w *Writer) PublishCursor(ctx context.Context, cursor *syncv1.Cursor) error {
	sj, err := w.api.GetSyncJob(ctx, w.namespace, w.name)
	if err != nil {
		return fmt.Errorf("publish cursor: get SyncJob %s/%s: %w", w.namespace, w.name, err)
	}
	st := runnerStatus{
		Cursor:                cursor.DeepCopy(),
		LastRun:               sj.Status.LastRun,
		LastSuccessfulRunTime: sj.Status.LastSuccessfulRunTime,
		History:               sj.Status.History,
	}
	apply, err := w.applyObject(st)
	if err != nil {
		return fmt.Errorf("publish cursor: %w", err)
	}
	if err := w.api.ApplySyncJobStatus(ctx, apply, runcontract.RunnerFieldManager); err != nil {
		return fmt.Errorf("publish cursor: apply status of SyncJob %s/%s: %w", w.namespace, w.name, err)
	}
	return nil
}

// applyObject builds the apply request: apiVersion, kind, name, namespace and the
// runner's status fields, nothing else (a typed SyncJob would also send spec).
func (w *Writer) applyObject(st runnerStatus) (*unstructured.Unstructured, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	var status map[string]any
	if err := json.Unmarshal(raw, &status); err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(syncv1.GroupVersion.String())
	u.SetKind("SyncJob")
	u.SetNamespace(w.namespace)
	u.SetName(w.name)
	return u, nil
}

// pushHistory puts line on top of history, newest first, bounded to MaxHistory; a top
// line of the same run is replaced rather than repeated.
func pushHistory(history []syncv1.RunSummary, line syncv1.RunSummary) []syncv1.RunSummary {
	if len(history) > 0 && history[0].RunID == line.RunID {
		history = history[1:]
	}
	out := make([]syncv1.RunSummary, 0, MaxHistory)
	out = append(out, line)
	for _, h := range history {
		if len(out) == MaxHistory {
			break
		}
		out = append(out, *h.DeepCopy())
	}
	return out
}

// Event emits one core/v1 Event on the SyncJob about something that is not a run (a
// checkpoint reset, a refused request): eventType is corev1.EventTypeNormal or
// corev1.EventTypeWarning. The message is redacted and bounded like a run's. It reads the
// SyncJob (for its UID) and writes nothing but the Event.
func (w *Writer) Event(ctx context.Context, eventType, reason, message string) error {
	sj, err := w.api.GetSyncJob(ctx, w.namespace, w.name)
	if err != nil {
		return fmt.Errorf("%s event: get SyncJob %s/%s: %w", reason, w.namespace, w.name, err)
	}
	return w.emit(ctx, sj, eventType, reason, message)
}

// emit creates one core/v1 Event on the SyncJob.
func (w *Writer) emit(ctx context.Context, sj *syncv1.SyncJob, eventType, reason, message string) error {
	message = Redact(message)
	if len(message) > maxEventMessage {
		message = message[:maxEventMessage-3] + "..."
	}
	now := metav1.NewTime(w.clock.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: sj.Name + ".", Namespace: sj.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: syncv1.GroupVersion.String(), Kind: "SyncJob",
			Namespace: sj.Namespace, Name: sj.Name, UID: sj.UID, ResourceVersion: sj.ResourceVersion,
		},
		Type: eventType, Reason: reason, Message: message,
		Source:         corev1.EventSource{Component: runcontract.RunnerFieldManager},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "sync.checkpointed.io/runner", ReportingInstance: w.instance,
	}
	if err := w.api.CreateEvent(ctx, ev); err != nil {
		return fmt.Errorf("create %s event on SyncJob %s/%s: %w", reason, sj.Namespace, sj.Name, err)
	}
	return nil
}

// eventFor maps a final phase to the Event's type and reason.
func eventFor(phase syncv1.RunPhase) (string, string) {
	switch phase {
	case syncv1.RunPhaseSucceeded:
		return corev1.EventTypeNormal, ReasonRunSucceeded
	case syncv1.RunPhasePartiallySucceeded:
		// Records failed: the run did what the error policy allows, but someone should look.
		return corev1.EventTypeWarning, ReasonRunPartiallySucceeded
	case syncv1.RunPhaseInterrupted:
		return corev1.EventTypeWarning, ReasonRunInterrupted
	default:
		return corev1.EventTypeWarning, ReasonRunFailed
	}
}

// Summary renders a run in one line for history and events, for example
// "Succeeded: read 842, upserted 840, failed 2, cursor 2026-06-30T23:55:00.123456Z/inv_10492".
// Counts that are zero and rarely matter (unchanged, skipped, deleted) are left out, and a
// record with CountsUnknown says "counts unknown" instead of any; a
// failure's reason follows the phase. The run's free-text message is never included.
func Summary(rec syncv1.RunRecord, cursor *syncv1.Cursor) string {
	var b strings.Builder
	b.WriteString(string(rec.Phase))
	if rec.Reason != "" {
		fmt.Fprintf(&b, " (%s)", rec.Reason)
	}
	if rec.CountsUnknown {
		b.WriteString(": counts unknown")
	} else {
		fmt.Fprintf(&b, ": read %d, upserted %d", rec.Read, rec.Upserted)
		for _, c := range []struct {
			name string
			n    int64
		}{{"unchanged", rec.Unchanged}, {"skipped", rec.Skipped}} {
			if c.n != 0 {
				fmt.Fprintf(&b, ", %s %d", c.name, c.n)
			}
		}
		fmt.Fprintf(&b, ", failed %d", rec.Failed)
		if rec.Deleted != 0 {
			fmt.Fprintf(&b, ", deleted %d", rec.Deleted)
		}
	}
	if cursor == nil {
		cursor = rec.CursorEnd
	}
	switch {
	case cursor == nil || (cursor.UpdatedAt == "" && cursor.ID == ""):
		b.WriteString(", cursor beginning")
	case cursor.ID == "":
		fmt.Fprintf(&b, ", cursor %s", cursor.UpdatedAt)
	default:
		fmt.Fprintf(&b, ", cursor %s/%s", cursor.UpdatedAt, cursor.ID)
	}
	return b.String()
}

// CursorOf renders a stored cursor for the API's status.cursor; nil and the beginning are
// nil.
func CursorOf(c *cursor.Cursor) *syncv1.Cursor {
	if c == nil || c.IsZero() {
		return nil
	}
	return &syncv1.Cursor{UpdatedAt: c.Format(), ID: c.ID}
}
