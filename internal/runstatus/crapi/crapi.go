// Package crapi is runstatus.API on a controller-runtime client: what the controller
// passes to runstatus.NewWriter when it records a run on a dead runner's behalf. It lives
// apart from runstatus so that the runner, which has its own client (internal/kubeapi),
// does not link controller-runtime's client.
package crapi

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// API implements runstatus.API with a controller-runtime client, whose scheme must know
// the SyncJob and core/v1 types.
type API struct {
	c client.Client
}

// New returns the runstatus.API of c. Reads go where c reads (a manager's client reads
// its cache).
func New(c client.Client) API {
	return API{c: c}
}

// GetSyncJob reads the SyncJob namespace/name.
func (a API) GetSyncJob(ctx context.Context, namespace, name string) (*syncv1.SyncJob, error) {
	sj := &syncv1.SyncJob{}
	if err := a.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sj); err != nil {
		return nil, err
	}
	return sj, nil
}

// ApplySyncJobStatus applies obj to the SyncJob's status subresource by server-side apply
// under fieldManager, forcing ownership.
func (a API) ApplySyncJobStatus(ctx context.Context, obj *unstructured.Unstructured, fieldManager string) error {
	return a.c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
		client.FieldOwner(fieldManager), client.ForceOwnership)
}

// CreateEvent creates ev in its namespace.
func (a API) CreateEvent(ctx context.Context, ev *corev1.Event) error {
	return a.c.Create(ctx, ev)
}
