package sharedmeta

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"unsafe"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func owner(uid string, controller *bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "sync.checkpointed.io/v1alpha1", Kind: "SyncJob", Name: "invoices",
		UID: types.UID("uid-" + uid), Controller: controller, BlockOwnerDeletion: ptr.To(true)}
}

func object(labels map[string]string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "x", Labels: labels, OwnerReferences: refs}}
}

func sameMap(a, b map[string]string) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func sameSlice(a, b []metav1.OwnerReference) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

func TestShare(t *testing.T) {
	runner := func() map[string]string {
		return map[string]string{"sync.checkpointed.io/syncjob": "invoices", "app.kubernetes.io/managed-by": "checkpointed"}
	}
	cases := []struct {
		name                   string
		first, second          *corev1.ConfigMap
		wantLabels, wantOwners bool
	}{
		{"equal labels and owner", object(runner(), owner("1", ptr.To(true))), object(runner(), owner("1", ptr.To(true))), true, true},
		{"another owner", object(runner(), owner("1", ptr.To(true))), object(runner(), owner("2", ptr.To(true))), true, false},
		{"controller unset or false", object(nil, owner("1", nil)), object(nil, owner("1", ptr.To(false))), false, false},
		{"a value differs", object(runner()), object(map[string]string{"sync.checkpointed.io/syncjob": "orders", "app.kubernetes.io/managed-by": "checkpointed"}), false, false},
		{"a label more", object(runner()), object(map[string]string{"sync.checkpointed.io/syncjob": "invoices", "app.kubernetes.io/managed-by": "checkpointed", "x": ""}), false, false},
		{"the same text split elsewhere", object(map[string]string{"a": "b1:c"}), object(map[string]string{"a1:b": "c"}), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tbl := New(16)
			wantLabels, wantOwners := tc.second.Labels, tc.second.OwnerReferences
			tbl.Share(tc.first)
			tbl.Share(tc.second)
			g.Expect(tc.second.Labels).To(Equal(wantLabels), "sharing never changes what an object holds")
			g.Expect(tc.second.OwnerReferences).To(Equal(wantOwners))
			g.Expect(sameMap(tc.first.Labels, tc.second.Labels)).To(Equal(tc.wantLabels))
			g.Expect(sameSlice(tc.first.OwnerReferences, tc.second.OwnerReferences)).To(Equal(tc.wantOwners))
			g.Expect(unsafe.StringData(tc.first.Namespace)).To(Equal(unsafe.StringData(tc.second.Namespace)))
		})
	}
}

// TestShareForgetsBeyondTwiceItsSize: a table of size 2 shares at least the last 2 label
// sets it saw, a set seen again moves up, and what is older than 4 sets is forgotten.
func TestShareForgetsBeyondTwiceItsSize(t *testing.T) {
	g := NewWithT(t)
	tbl := New(2)
	seen := map[int]*corev1.ConfigMap{}
	share := func(n int) *corev1.ConfigMap {
		o := object(map[string]string{"n": strconv.Itoa(n)})
		tbl.Share(o)
		return o
	}
	for n := range 6 {
		seen[n] = share(n)
	}
	g.Expect(sameMap(share(5).Labels, seen[5].Labels)).To(BeTrue(), "the last two are held")
	g.Expect(sameMap(share(4).Labels, seen[4].Labels)).To(BeTrue())
	g.Expect(sameMap(share(1).Labels, seen[1].Labels)).To(BeFalse(), "five sets later, the second is forgotten")
	for n := 6; n < 12; n++ {
		seen[n] = share(n)
		g.Expect(sameMap(share(4).Labels, seen[4].Labels)).To(BeTrue(), "a set seen again stays held")
	}
	g.Expect(sameMap(share(6).Labels, seen[6].Labels)).To(BeFalse())
}

// TestShareNeverSharesUnequal: with every value's hash the same, equal values are still
// shared and unequal ones never are.
func TestShareNeverSharesUnequal(t *testing.T) {
	g := NewWithT(t)
	tbl := New(16)
	tbl.mix = func(uint64, uint64) uint64 { return 42 }
	a := object(map[string]string{"k": "a"}, owner("1", ptr.To(true)))
	b := object(map[string]string{"k": "b"}, owner("2", ptr.To(true)))
	a2 := object(map[string]string{"k": "a"}, owner("1", ptr.To(true)))
	for _, o := range []*corev1.ConfigMap{a, b, a2} {
		tbl.Share(o)
	}
	g.Expect(b.Labels).To(Equal(map[string]string{"k": "b"}))
	g.Expect(b.OwnerReferences).To(Equal([]metav1.OwnerReference{owner("2", ptr.To(true))}))
	g.Expect(sameMap(a.Labels, a2.Labels)).To(BeTrue())
	g.Expect(sameSlice(a.OwnerReferences, a2.OwnerReferences)).To(BeTrue())
}

func TestTransform(t *testing.T) {
	g := NewWithT(t)
	tbl := New(16)
	trim := func(in any) (any, error) {
		in.(*corev1.ConfigMap).Data = nil
		return in, nil
	}
	tr := tbl.Transform(trim)
	a, b := object(map[string]string{"k": "v"}), object(map[string]string{"k": "v"})
	a.Data = map[string]string{"checkpoint": "{}"}
	outA, err := tr(a)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outA.(*corev1.ConfigMap).Data).To(BeNil(), "next runs first")
	outB, err := tr(b)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sameMap(outA.(*corev1.ConfigMap).Labels, outB.(*corev1.ConfigMap).Labels)).To(BeTrue())

	tomb := toolscache.DeletedFinalStateUnknown{Key: "billing/x", Obj: object(nil)}
	out, err := tbl.Transform(nil)(tomb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(tomb))

	boom := errors.New("boom")
	_, err = tbl.Transform(func(any) (any, error) { return nil, boom })(a)
	g.Expect(err).To(MatchError(boom))
}
