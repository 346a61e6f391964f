// Package eventrecorder records a controller's Events (events.k8s.io/v1) and keeps none of
// them afterwards. client-go's events broadcaster keeps every Event it sent for 6 to 12
// minutes, so that it can count a repeat as a series instead of a new Event; the controller
// records an Event only when something changed (a condition it has not announced yet, a
// request it acted on), so repeats are rare, and with 10,000 SyncJobs new at once the kept
// Events were about 13 MB of the manager's heap. The Events it creates are the ones
// client-go's recorder makes (name, reporting controller and instance, regarding and
// related references, the note formatted), without a series.
package eventrecorder

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record/util"
	ref "k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Sink creates an Event in the API.
type Sink func(ctx context.Context, ev *eventsv1.Event) error

// Creator is the Sink that creates Events with c (the manager's client).
func Creator(c client.Writer) Sink {
	return func(ctx context.Context, ev *eventsv1.Event) error { return c.Create(ctx, ev) }
}

// Recorder is an events.EventRecorder whose Events are created by Start's workers, in the
// order they were recorded per worker; it never blocks the caller: an Event recorded while
// QueueSize Events wait is dropped and logged, as client-go's recorder drops them.
type Recorder struct {
	sink       Sink
	scheme     *runtime.Scheme
	controller string
	instance   string
	clock      clock.PassiveClock
	log        logr.Logger
	queue      chan *eventsv1.Event
	// retryAfter is the pause before the next try of an Event whose create failed.
	retryAfter time.Duration
}

var _ events.EventRecorder = (*Recorder)(nil)

// QueueSize is how many Events may wait to be created.
const QueueSize = 1000

// tries is how many times an Event's create is tried before it is dropped (and logged).
const tries = 3

// workers is how many Events are created at once.
const workers = 4

// New returns a Recorder of Events reported by controller (and by the instance
// controller-hostname, as client-go names it) that references objects with scheme's kinds
// and creates the Events with sink once Start runs.
func New(sink Sink, scheme *runtime.Scheme, controller string, clk clock.PassiveClock, log logr.Logger) *Recorder {
	host, _ := os.Hostname()
	return &Recorder{sink: sink, scheme: scheme, controller: controller, instance: controller + "-" + host,
		clock: clk, log: log, queue: make(chan *eventsv1.Event, QueueSize), retryAfter: time.Second}
}

// ForManager returns a Recorder of Events reported by controller, created with mgr's
// client, and adds it to mgr (which starts it). main and the controller's envtest suite
// both use it, so that the suite records Events as the manager does.
func ForManager(mgr manager.Manager, controller string, log logr.Logger) (*Recorder, error) {
	r := New(Creator(mgr.GetClient()), mgr.GetScheme(), controller, clock.RealClock{}, log)
	if err := mgr.Add(r); err != nil {
		return nil, fmt.Errorf("add the event recorder to the manager: %w", err)
	}
	return r, nil
}

// Eventf records an Event about regarding (and related, which may be nil) with note
// formatted with args, as events.EventRecorder says.
func (r *Recorder) Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	ev, err := r.makeEvent(regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "event not recorded", "reason", reason)
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.log.Info("event dropped: too many waiting to be created", "reason", reason, "regarding", ev.Regarding.Name)
	}
}

func (r *Recorder) makeEvent(regarding, related runtime.Object, eventtype, reason, action, note string) (*eventsv1.Event, error) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return nil, fmt.Errorf("unsupported event type %q", eventtype)
	}
	reg, err := ref.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("reference to the object: %w", err)
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if rel, err = ref.GetReference(r.scheme, related); err != nil {
			rel = nil // as client-go's recorder: the Event without it
		}
	}
	now := r.clock.Now()
	ns := reg.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: util.GenerateEventName(reg.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.MicroTime{Time: now},
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *reg,
		Related:             rel,
		Note:                note,
		Type:                eventtype,
	}, nil
}

// Start creates the recorded Events until ctx ends (a manager.Runnable); Events still
// waiting then are dropped.
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.create(ctx, ev)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: Events recorded before this replica leads (none, as only
// the leader reconciles) would otherwise wait.
func (r *Recorder) NeedLeaderElection() bool { return false }

// create tries the Event's create up to tries times; an Event that exists already (a
// retry of a create that succeeded) is done, and so is one in a namespace being deleted.
func (r *Recorder) create(ctx context.Context, ev *eventsv1.Event) {
	var err error
	for i := range tries {
		if i > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(r.retryAfter):
			}
		}
		err = r.sink(ctx, ev.DeepCopy())
		if err == nil || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return
		}
	}
	r.log.Error(err, "event not created", "reason", ev.Reason, "regarding", ev.Regarding.Name, "tries", tries)
}
