package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

// DefaultLeaseDuration is how long a run lock Lease stays valid without renewal.
const DefaultLeaseDuration = 30 * time.Second

// NewHolderIdentity returns a run's lock holder identity: the pod name and a random
// suffix, so that a restarted container of the same pod is a different holder.
func NewHolderIdentity(pod string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	if pod == "" {
		pod = "runner"
	}
	return pod + "-" + hex.EncodeToString(b[:])
}

// LeaseOptions tune a LeaseLock; zero values take the defaults.
type LeaseOptions struct {
	// Duration of the lease (DefaultLeaseDuration if zero). The holder renews every
	// Duration/3; a lease not renewed for Duration may be taken by another runner.
	Duration time.Duration
	// Clock decides expiry and drives renewal (the real clock if nil).
	Clock clock.WithTicker
	// Log receives renewal failures and lock loss (discarded if unset).
	Log logr.Logger
}

// Leases is what a LeaseLock needs of the apiserver: get, create and update the Leases of
// one namespace. The runner's kubeapi.Leases satisfies it, and so does client-go's typed
// LeaseInterface.
type Leases interface {
	// Get reads the Lease name.
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	// Create creates lease (an AlreadyExists error if it does).
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	// Update replaces lease if its resourceVersion is the stored one (else a Conflict error).
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// LeaseLock is the in-cluster run lock: the coordination.k8s.io/v1 Lease <job>-run in the
// SyncJob's namespace, held by one run identity at a time.
//
// Acquire gets the Lease and creates it if missing (the controller may have pre-created
// it), takes it when it is free (no holder) or expired (renewTime + leaseDurationSeconds
// before now), and refuses otherwise. Every write is an update with the resourceVersion
// just read, so two runners racing for a free Lease cannot both win. It never lists or
// watches: the runner's RBAC allows get and update on this Lease, and create on Leases.
type LeaseLock struct {
	leases    Leases
	namespace string
	name      string
	identity  string
	duration  time.Duration
	clock     clock.WithTicker
	log       logr.Logger
}

// NewLeaseLock returns the run lock of the SyncJob job in namespace, held as identity
// (see NewHolderIdentity); leases are that namespace's Leases.
func NewLeaseLock(leases Leases, namespace, job, identity string, opts LeaseOptions) *LeaseLock {
	l := &LeaseLock{
		leases: leases, namespace: namespace, name: runcontract.LeaseName(job), identity: identity,
		duration: opts.Duration, clock: opts.Clock, log: opts.Log,
	}
	if l.duration <= 0 {
		l.duration = DefaultLeaseDuration
	}
	if l.clock == nil {
		l.clock = clock.RealClock{}
	}
	if l.log.GetSink() == nil {
		l.log = logr.Discard()
	}
	l.log = l.log.WithValues("lease", namespace+"/"+l.name, "holder", identity)
	return l
}

// Acquire takes the Lease or returns a wrapped ErrLocked naming the current holder and
// when its lease runs out. While held, the Lease is renewed every Duration/3; the held
// context is cancelled when another holder took the Lease or renewals have failed for a
// whole Duration, and when release is called. held carries ctx's values but not its
// cancellation, so a run that is being stopped keeps the lock until it releases it.
// release stops renewing and clears the holder (if still ours); its errors are only
// logged. It is safe to call more than once.
func (l *LeaseLock) Acquire(ctx context.Context) (context.Context, func(), error) {
	lease, err := l.take(ctx)
	if err != nil {
		return nil, nil, err
	}
	l.log.V(1).Info("run lock acquired")

	held, lose := context.WithCancel(context.WithoutCancel(ctx))
	stop := make(chan struct{})
	done := make(chan struct{})
	ticker := l.clock.NewTicker(l.duration / 3)
	r := &renewer{lock: l, lease: lease, lastRenew: l.clock.Now()}
	go func() {
		defer close(done)
		defer ticker.Stop()
		r.loop(held, lose, stop, ticker.C())
	}()

	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			<-done
			lose()
			l.release(context.WithoutCancel(ctx), r.lease)
		})
	}
	return held, release, nil
}

// take gets or creates the Lease and makes this identity its holder.
func (l *LeaseLock) take(ctx context.Context) (*coordinationv1.Lease, error) {
	now := metav1.NewMicroTime(l.clock.Now())
	seconds := int32(l.duration / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	lease, err := l.leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		fresh := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.namespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &l.identity, LeaseDurationSeconds: &seconds,
				AcquireTime: &now, RenewTime: &now,
			},
		}
		created, err := l.leases.Create(ctx, fresh, metav1.CreateOptions{})
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("run lock: create Lease %s/%s: %w", l.namespace, l.name, err)
		}
		// Someone created it between our get and create: judge what is there now.
		lease, err = l.leases.Get(ctx, l.name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("run lock: get Lease %s/%s: %w", l.namespace, l.name, err)
	}

	holder := holderOf(lease)
	if holder != "" && holder != l.identity {
		if until := l.expiry(lease); l.clock.Now().Before(until) {
			return nil, fmt.Errorf("run lock: Lease %s/%s is held by %q until %s: %w",
				l.namespace, l.name, holder, until.UTC().Format(time.RFC3339), ErrLocked)
		}
		l.log.Info("taking over expired run lock", "previousHolder", holder)
	}

	next := lease.DeepCopy()
	if holder != l.identity {
		next.Spec.AcquireTime = &now
		if holder != "" {
			transitions := int32(0)
			if next.Spec.LeaseTransitions != nil {
				transitions = *next.Spec.LeaseTransitions
			}
			transitions++
			next.Spec.LeaseTransitions = &transitions
		}
	}
	next.Spec.HolderIdentity = &l.identity
	next.Spec.LeaseDurationSeconds = &seconds
	next.Spec.RenewTime = &now
	updated, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil, fmt.Errorf("run lock: Lease %s/%s changed while taking it (another runner is starting): %w",
			l.namespace, l.name, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("run lock: update Lease %s/%s: %w", l.namespace, l.name, err)
	}
	return updated, nil
}

// expiry returns when lease runs out: renewTime + leaseDurationSeconds (this lock's
// duration when the Lease has none). A Lease without renewTime has expired.
func (l *LeaseLock) expiry(lease *coordinationv1.Lease) time.Time {
	if lease.Spec.RenewTime == nil {
		return time.Time{}
	}
	d := l.duration
	if lease.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	return lease.Spec.RenewTime.Add(d)
}

// release clears the holder if the Lease is still ours. Errors are logged, not returned:
// an unreleased lease simply expires.
func (l *LeaseLock) release(ctx context.Context, last *coordinationv1.Lease) {
	ctx, cancel := context.WithTimeout(ctx, l.duration)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		if holderOf(last) != l.identity {
			l.log.V(1).Info("run lock no longer ours, nothing to release", "holder", holderOf(last))
			return
		}
		next := last.DeepCopy()
		next.Spec.HolderIdentity = nil
		_, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			l.log.V(1).Info("run lock released")
			return
		}
		if !apierrors.IsConflict(err) {
			l.log.Error(err, "release run lock; it will expire")
			return
		}
		if last, err = l.leases.Get(ctx, l.name, metav1.GetOptions{}); err != nil {
			l.log.Error(err, "release run lock; it will expire")
			return
		}
	}
	l.log.Info("release run lock: Lease kept changing; it will expire")
}

// renewer keeps one acquisition of a Lease alive.
type renewer struct {
	lock      *LeaseLock
	lease     *coordinationv1.Lease // last version written or read; only the loop touches it
	lastRenew time.Time
}

// loop renews on every tick until stop is closed or the lock is lost (then it calls lose).
func (r *renewer) loop(ctx context.Context, lose context.CancelFunc, stop <-chan struct{}, tick <-chan time.Time) {
	l := r.lock
	for {
		select {
		case <-stop:
			return
		case <-tick:
		}
		err := r.renew(ctx)
		switch {
		case err == nil:
			continue
		case errors.Is(err, errLost):
			l.log.Info("run lock lost", "reason", err.Error())
			lose()
			return
		case l.clock.Since(r.lastRenew) >= l.duration:
			l.log.Error(err, "run lock lost: renewal failed for a whole lease duration")
			lose()
			return
		default:
			l.log.Error(err, "renew run lock; will retry")
		}
	}
}

// errLost says another holder has the Lease.
var errLost = errors.New("lease taken by another holder")

// renew writes a new renewTime with compare-and-swap; on conflict it rereads the Lease
// and retries once if it is still ours.
func (r *renewer) renew(ctx context.Context) error {
	l := r.lock
	ctx, cancel := context.WithTimeout(ctx, l.duration/3)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		if h := holderOf(r.lease); h != l.identity {
			return fmt.Errorf("%w: now held by %q", errLost, h)
		}
		now := l.clock.Now()
		next := r.lease.DeepCopy()
		renewTime := metav1.NewMicroTime(now)
		next.Spec.RenewTime = &renewTime
		updated, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			r.lease, r.lastRenew = updated, now
			return nil
		}
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: the Lease was deleted", errLost)
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("renew Lease %s/%s: %w", l.namespace, l.name, err)
		}
		current, err := l.leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: the Lease was deleted", errLost)
		}
		if err != nil {
			return fmt.Errorf("renew Lease %s/%s: reread after conflict: %w", l.namespace, l.name, err)
		}
		r.lease = current
	}
	return fmt.Errorf("renew Lease %s/%s: it keeps changing", l.namespace, l.name)
}

// holderOf returns the lease's holder identity, "" when free.
func holderOf(lease *coordinationv1.Lease) string {
	if lease == nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}
