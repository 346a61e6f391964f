package metrics

import (
	"context"
	"errors"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Lister returns the SyncJobs a scrape exports. The Collector only reads them: they may be
// the cache's own objects.
type Lister func(ctx context.Context) ([]*syncv1.SyncJob, error)

// ReaderLister lists the SyncJobs with reader, into a list of its own.
func ReaderLister(reader client.Reader) Lister {
	return func(ctx context.Context) ([]*syncv1.SyncJob, error) {
		var list syncv1.SyncJobList
		if err := reader.List(ctx, &list); err != nil {
			return nil, err
		}
		out := make([]*syncv1.SyncJob, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
}

// ErrNotSynced is StoreLister's answer until the informer has synced: a scrape then exports
// no SyncJob series rather than some of them. It is the manager's normal start, not a fault.
var ErrNotSynced = errors.New("the SyncJob informer has not synced yet")

// syncedStore is what StoreLister needs of an informer (client-go's SharedIndexInformer).
type syncedStore interface {
	HasSynced() bool
	GetStore() toolscache.Store
}

// StoreLister lists the SyncJobs the informer holds, without copying them: a list through
// the cache's reader copies every SyncJob into a new list (about 10 MB per scrape at 10,000
// SyncJobs, every 15 to 30 s). Until the informer has synced it returns ErrNotSynced.
func StoreLister(inf syncedStore) Lister {
	return func(context.Context) ([]*syncv1.SyncJob, error) {
		if !inf.HasSynced() {
			return nil, ErrNotSynced
		}
		objs := inf.GetStore().List()
		out := make([]*syncv1.SyncJob, 0, len(objs))
		for _, o := range objs {
			if sj, ok := o.(*syncv1.SyncJob); ok {
				out = append(out, sj)
			}
		}
		return out, nil
	}
}

// CacheLister lists the SyncJobs of a manager's cache: its SyncJob informer's store
// (StoreLister) when the cache gives one, else through the cache's reader.
func CacheLister(ctx context.Context, c cache.Cache) (Lister, error) {
	inf, err := c.GetInformer(ctx, &syncv1.SyncJob{})
	if err != nil {
		return nil, fmt.Errorf("SyncJob informer: %w", err)
	}
	if s, ok := inf.(syncedStore); ok {
		return StoreLister(s), nil
	}
	return ReaderLister(c), nil
}
