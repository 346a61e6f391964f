package checkpoint

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var leaseEpoch = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func getLease(g *WithT, cs kubernetes.Interface, ns, job string) *coordinationv1.Lease {
	lease, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), runcontract.LeaseName(job), metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return lease
}

func TestLeaseLockExcludesUntilRelease(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	clk := clocktesting.NewFakeClock(leaseEpoch)
	a := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-a-1", LeaseOptions{Clock: clk})
	b := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-b-2", LeaseOptions{Clock: clk})

	held, release, err := a.Acquire(ctx) // creates the Lease
	g.Expect(err).NotTo(HaveOccurred())
	lease := getLease(g, cs, ns, "sj1")
	g.Expect(*lease.Spec.HolderIdentity).To(Equal("pod-a-1"))
	g.Expect(*lease.Spec.LeaseDurationSeconds).To(Equal(int32(30)))

	_, _, err = b.Acquire(ctx)
	g.Expect(errors.Is(err, ErrLocked)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring(`held by "pod-a-1" until 2026-07-01T12:00:30Z`))

	// Renewal on every third of the duration keeps a ahead of expiry.
	for range 4 {
		clk.Step(10 * time.Second)
		want := clk.Now()
		g.Eventually(func() time.Time { return getLease(g, cs, ns, "sj1").Spec.RenewTime.Time }).Should(BeTemporally("==", want))
	}
	_, _, err = b.Acquire(ctx)
	g.Expect(errors.Is(err, ErrLocked)).To(BeTrue(), "still held after 40s of renewals: %v", err)
	g.Expect(held.Err()).NotTo(HaveOccurred())

	release()
	g.Expect(held.Done()).To(BeClosed())
	g.Expect(getLease(g, cs, ns, "sj1").Spec.HolderIdentity).To(BeNil(), "release clears the holder")
	release()

	_, releaseB, err := b.Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "free after release")
	releaseB()
}

func TestLeaseLockPreCreatedByController(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	pre := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: runcontract.LeaseName("sj1"), Namespace: ns}}
	_, err := cs.CoordinationV1().Leases(ns).Create(ctx, pre, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	_, release, err := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-a-1", LeaseOptions{Clock: clocktesting.NewFakeClock(leaseEpoch)}).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	defer release()
	g.Expect(*getLease(g, cs, ns, "sj1").Spec.HolderIdentity).To(Equal("pod-a-1"))
}

func TestLeaseLockStealsExpiredLease(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	// Each runner has its own clock: a's stands still (it cannot renew), b's runs ahead.
	clkA := clocktesting.NewFakeClock(leaseEpoch)
	clkB := clocktesting.NewFakeClock(leaseEpoch.Add(29 * time.Second))
	a := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-a-1", LeaseOptions{Clock: clkA})
	b := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-b-2", LeaseOptions{Clock: clkB})

	heldA, releaseA, err := a.Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	_, _, err = b.Acquire(ctx)
	g.Expect(errors.Is(err, ErrLocked)).To(BeTrue(), "29s after the last renewal the lease is still valid: %v", err)

	clkB.Step(2 * time.Second)
	heldB, releaseB, err := b.Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "31s after the last renewal the lease has expired")
	lease := getLease(g, cs, ns, "sj1")
	g.Expect(*lease.Spec.HolderIdentity).To(Equal("pod-b-2"))
	g.Expect(*lease.Spec.LeaseTransitions).To(Equal(int32(1)))

	g.Expect(heldA.Err()).NotTo(HaveOccurred(), "a does not know yet")
	clkA.Step(10 * time.Second) // a's next renewal finds b holding the lease
	g.Eventually(heldA.Done()).Should(BeClosed())
	g.Expect(heldB.Err()).NotTo(HaveOccurred())

	releaseA() // must not clear b's hold
	g.Expect(*getLease(g, cs, ns, "sj1").Spec.HolderIdentity).To(Equal("pod-b-2"))
	releaseB()
}

func TestLeaseLockLostWhenRenewalsFail(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	clk := clocktesting.NewFakeClock(leaseEpoch)
	held, release, err := NewLeaseLock(leases(t, ns), ns, "sj1", "pod-a-1", LeaseOptions{Clock: clk}).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	defer release()

	// Deleting the Lease makes the next renewal fail: the hold is gone at once.
	g.Expect(cs.CoordinationV1().Leases(ns).Delete(ctx, runcontract.LeaseName("sj1"), metav1.DeleteOptions{})).To(Succeed())
	clk.Step(10 * time.Second)
	g.Eventually(held.Done()).Should(BeClosed())
}

// TestLeaseLockLostAfterFailingForADuration injects API errors (a fake clientset: a real
// apiserver cannot be made to fail on demand) and checks that transient renewal failures
// are tolerated until a whole lease duration has passed without a renewal.
func TestLeaseLockLostAfterFailingForADuration(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs := fake.NewClientset()
	var failing, updates atomic.Int32
	cs.PrependReactor("update", "leases", func(action clienttesting.Action) (bool, runtime.Object, error) {
		updates.Add(1)
		if failing.Load() == 1 {
			return true, nil, apierrors.NewInternalError(errors.New("etcd is down"))
		}
		return false, nil, nil
	})
	// The renewer logs "will retry" after it decided to keep the lock: count those.
	var retries atomic.Int32
	log := funcr.New(func(_, args string) {
		if strings.Contains(args, "will retry") {
			retries.Add(1)
		}
	}, funcr.Options{})
	clk := clocktesting.NewFakeClock(leaseEpoch)
	held, release, err := NewLeaseLock(cs.CoordinationV1().Leases("ns"), "ns", "sj1", "pod-a-1", LeaseOptions{Clock: clk, Log: log}).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	defer release()

	failing.Store(1)
	for i := range 2 {
		clk.Step(10 * time.Second)
		g.Eventually(retries.Load).Should(BeNumerically("==", i+1), "failed renewal %d tolerated", i+1)
		g.Expect(held.Err()).NotTo(HaveOccurred(), "still held %ds after the last renewal", (i+1)*10)
	}
	clk.Step(10 * time.Second)
	g.Eventually(held.Done()).Should(BeClosed(), "30s without a renewal: lost")
	g.Expect(updates.Load()).To(BeNumerically(">=", 3))
}

func TestNewHolderIdentity(t *testing.T) {
	g := NewWithT(t)
	a, b := NewHolderIdentity("sj1-29xkq"), NewHolderIdentity("sj1-29xkq")
	g.Expect(a).To(MatchRegexp(`^sj1-29xkq-[0-9a-f]{12}$`))
	g.Expect(a).NotTo(Equal(b), "a restarted container is a different holder")
	g.Expect(NewHolderIdentity("")).To(HavePrefix("runner-"))
}
