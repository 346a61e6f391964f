package metrics

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

type informer struct {
	synced bool
	store  toolscache.Store
}

func (i informer) HasSynced() bool            { return i.synced }
func (i informer) GetStore() toolscache.Store { return i.store }

// TestStoreLister: the informer's own SyncJobs, not copies, and none until it has synced.
func TestStoreLister(t *testing.T) {
	g := NewWithT(t)
	store := toolscache.NewStore(toolscache.MetaNamespaceKeyFunc)
	a := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "a"}}
	b := &syncv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "b"}}
	g.Expect(store.Add(a)).To(Succeed())
	g.Expect(store.Add(b)).To(Succeed())

	_, err := StoreLister(informer{synced: false, store: store})(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("not synced")))

	got, err := StoreLister(informer{synced: true, store: store})(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(ConsistOf(BeIdenticalTo(a), BeIdenticalTo(b)))
}
