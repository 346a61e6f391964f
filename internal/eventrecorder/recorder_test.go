package eventrecorder

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
)

// sink records what it was asked to create and fails the first fail calls with err.
type sink struct {
	mu      sync.Mutex
	calls   int
	fail    int
	err     error
	created []*eventsv1.Event
}

func (s *sink) create(_ context.Context, ev *eventsv1.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.fail {
		return s.err
	}
	s.created = append(s.created, ev)
	return nil
}

func (s *sink) snapshot() (int, []*eventsv1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]*eventsv1.Event(nil), s.created...)
}

var (
	now = time.Date(2026, 12, 2, 3, 4, 5, 6000, time.UTC)
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "invoices", UID: "u-1", ResourceVersion: "7"}}
	cm  = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "invoices-checkpoint", UID: "u-2"}}
)

func recorder(s *sink, logs *[]string) *Recorder {
	log := funcr.New(func(prefix, args string) { *logs = append(*logs, args) }, funcr.Options{})
	r := New(s.create, clientgoscheme.Scheme, "checkpointed-controller", clocktesting.NewFakePassiveClock(now), log)
	r.retryAfter = time.Millisecond
	return r
}

func start(t *testing.T, r *Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestEventf: the Event is the one client-go's recorder makes, without a series.
func TestEventf(t *testing.T) {
	g := NewWithT(t)
	s := &sink{}
	var logs []string
	r := recorder(s, &logs)
	start(t, r)
	r.Eventf(pod, cm, corev1.EventTypeWarning, "Drifted", "Reconcile", "%d records differ", 3)
	g.Eventually(func() []*eventsv1.Event { _, c := s.snapshot(); return c }).Should(HaveLen(1))
	_, created := s.snapshot()
	ev := created[0]
	g.Expect(ev.Namespace).To(Equal("billing"))
	g.Expect(ev.Name).To(HavePrefix("invoices."))
	g.Expect(ev.EventTime.Time).To(Equal(now))
	g.Expect(ev.ReportingController).To(Equal("checkpointed-controller"))
	g.Expect(ev.ReportingInstance).To(HavePrefix("checkpointed-controller-"))
	g.Expect(ev.Type).To(Equal(corev1.EventTypeWarning))
	g.Expect(ev.Reason).To(Equal("Drifted"))
	g.Expect(ev.Action).To(Equal("Reconcile"))
	g.Expect(ev.Note).To(Equal("3 records differ"))
	g.Expect(ev.Regarding).To(Equal(corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "billing", Name: "invoices", UID: "u-1", ResourceVersion: "7"}))
	g.Expect(ev.Related).NotTo(BeNil())
	g.Expect(ev.Related.Name).To(Equal("invoices-checkpoint"))
	g.Expect(ev.Series).To(BeNil())

	r.Eventf(pod, nil, "Unusual", "X", "Reconcile", "no")
	g.Consistently(func() int { n, _ := s.snapshot(); return n }, "50ms").Should(Equal(1), "an unsupported type is not recorded")
	g.Expect(strings.Join(logs, "\n")).To(ContainSubstring(`unsupported event type \"Unusual\"`))
}

// TestEventfRetries: a create that fails is tried again, up to 3 times; a create that
// found the Event there (its earlier try succeeded) is done.
func TestEventfRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      int
		err       error
		calls     int
		created   int
		loggedErr bool
	}{
		{"fails once", 1, errors.New("connection reset"), 2, 1, false},
		{"fails every time", 5, errors.New("connection reset"), 3, 0, true},
		{"exists already", 1, apierrors.NewAlreadyExists(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "x"), 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := &sink{fail: tc.fail, err: tc.err}
			var logs []string
			r := recorder(s, &logs)
			r.Eventf(pod, nil, corev1.EventTypeNormal, "Ready", "Reconcile", "ready")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.create(ctx, <-r.queue)
			calls, created := s.snapshot()
			g.Expect(calls).To(Equal(tc.calls))
			g.Expect(created).To(HaveLen(tc.created))
			if tc.loggedErr {
				g.Expect(strings.Join(logs, "\n")).To(ContainSubstring("event not created"))
			} else {
				g.Expect(logs).To(BeEmpty())
			}
		})
	}
}

// TestEventfNeverBlocks: with QueueSize Events waiting (no worker started), one more is
// dropped and logged, and the caller goes on.
func TestEventfNeverBlocks(t *testing.T) {
	g := NewWithT(t)
	s := &sink{}
	var logs []string
	r := recorder(s, &logs)
	for range QueueSize + 1 {
		r.Eventf(pod, nil, corev1.EventTypeNormal, "Ready", "Reconcile", "ready")
	}
	g.Expect(r.queue).To(HaveLen(QueueSize))
	g.Expect(logs).To(HaveLen(1))
	g.Expect(logs[0]).To(ContainSubstring("event dropped"))
	start(t, r)
	g.Eventually(func() []*eventsv1.Event { _, c := s.snapshot(); return c }).Should(HaveLen(QueueSize))
}
