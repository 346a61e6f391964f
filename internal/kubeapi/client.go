// Package kubeapi is the runner's Kubernetes API client: the few verbs the runner uses on
// the few kinds it reads and writes (core/v1 ConfigMap and Event, coordination/v1 Lease,
// batch/v1 Job, the SyncJob and its status), typed, on k8s.io/client-go/rest alone, with a
// scheme that holds only those kinds.
//
// It exists so that the runner binary links neither client-go's clientset (whose scheme
// registers every API group when the program starts) nor controller-runtime's client: the
// runner's start is part of every run's time. Errors are the apiserver's, as client-go
// returns them, so apierrors.IsNotFound, IsConflict and the like work on them.
package kubeapi

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Client reads and writes the runner's objects on one apiserver. It never lists or
// watches. A Client is safe for concurrent use.
type Client struct {
	core, coordination, batch, sync *rest.RESTClient
}

// New returns a Client for the apiserver at cfg. Its requests are JSON. Each API group's
// requests are rate limited by cfg.RateLimiter (shared) or, without one, by their own
// limiter of cfg.QPS and cfg.Burst (client-go's defaults when zero).
func New(cfg *rest.Config) (*Client, error) {
	base := rest.CopyConfig(cfg)
	if base.UserAgent == "" {
		base.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(base)
	if err != nil {
		return nil, fmt.Errorf("kube API client: HTTP client: %w", err)
	}
	codecs := serializer.NewCodecFactory(newScheme()).WithoutConversion()
	groupClient := func(gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
		c := rest.CopyConfig(base)
		c.GroupVersion = &gv
		c.APIPath = apiPath
		c.NegotiatedSerializer = codecs
		c.ContentType = runtime.ContentTypeJSON
		c.AcceptContentTypes = runtime.ContentTypeJSON
		rc, err := rest.RESTClientForConfigAndClient(c, httpClient)
		if err != nil {
			return nil, fmt.Errorf("kube API client for %s: %w", gv, err)
		}
		return rc, nil
	}
	c := &Client{}
	for _, g := range []struct {
		client  **rest.RESTClient
		gv      schema.GroupVersion
		apiPath string
	}{
		{&c.core, corev1.SchemeGroupVersion, "/api"},
		{&c.coordination, coordinationv1.SchemeGroupVersion, "/apis"},
		{&c.batch, batchv1.SchemeGroupVersion, "/apis"},
		{&c.sync, syncv1.GroupVersion, "/apis"},
	} {
		if *g.client, err = groupClient(g.gv, g.apiPath); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newScheme holds the kinds the runner reads and writes, and the API's Status (errors)
// and option types for each of their group versions.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	s.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.ConfigMap{}, &corev1.Event{})
	s.AddKnownTypes(coordinationv1.SchemeGroupVersion, &coordinationv1.Lease{})
	s.AddKnownTypes(batchv1.SchemeGroupVersion, &batchv1.Job{})
	s.AddKnownTypes(syncv1.GroupVersion, &syncv1.SyncJob{})
	for _, gv := range []schema.GroupVersion{corev1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion, batchv1.SchemeGroupVersion, syncv1.GroupVersion} {
		metav1.AddToGroupVersion(s, gv)
	}
	return s
}

// ConfigMaps returns the ConfigMaps of namespace.
func (c *Client) ConfigMaps(namespace string) ConfigMaps {
	return ConfigMaps{objects[corev1.ConfigMap, *corev1.ConfigMap]{client: c.core, namespace: namespace, resource: "configmaps"}}
}

// Leases returns the coordination/v1 Leases of namespace.
func (c *Client) Leases(namespace string) Leases {
	return Leases{objects[coordinationv1.Lease, *coordinationv1.Lease]{client: c.coordination, namespace: namespace, resource: "leases"}}
}

// Jobs returns the batch/v1 Jobs of namespace.
func (c *Client) Jobs(namespace string) Jobs {
	return Jobs{objects[batchv1.Job, *batchv1.Job]{client: c.batch, namespace: namespace, resource: "jobs"}}
}

// GetSyncJob reads the SyncJob namespace/name from the apiserver.
func (c *Client) GetSyncJob(ctx context.Context, namespace, name string) (*syncv1.SyncJob, error) {
	return objects[syncv1.SyncJob, *syncv1.SyncJob]{client: c.sync, namespace: namespace, resource: "syncjobs"}.get(ctx, name, metav1.GetOptions{})
}

// ApplySyncJobStatus applies obj to the status subresource of the SyncJob it names, by
// server-side apply under fieldManager, forcing ownership of fields another manager holds.
// obj is sent as it is (JSON): apiVersion, kind, namespace, name and the status fields to
// own; anything else is refused before a request is made.
func (c *Client) ApplySyncJobStatus(ctx context.Context, obj *unstructured.Unstructured, fieldManager string) error {
	if obj.GroupVersionKind() != syncv1.GroupVersion.WithKind("SyncJob") {
		return fmt.Errorf("apply SyncJob status: the object is a %s %s, not a %s SyncJob", obj.GetAPIVersion(), obj.GetKind(), syncv1.GroupVersion)
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("apply SyncJob status of %s/%s: encode: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	force := true
	return c.sync.Patch(types.ApplyPatchType).Namespace(obj.GetNamespace()).Resource("syncjobs").Name(obj.GetName()).
		SubResource("status").VersionedParams(&metav1.PatchOptions{FieldManager: fieldManager, Force: &force}, metav1.ParameterCodec).
		Body(body).Do(ctx).Error()
}

// CreateEvent creates ev in its namespace (a generateName is resolved by the apiserver).
func (c *Client) CreateEvent(ctx context.Context, ev *corev1.Event) error {
	_, err := objects[corev1.Event, *corev1.Event]{client: c.core, namespace: ev.Namespace, resource: "events"}.create(ctx, ev, metav1.CreateOptions{})
	return err
}

// ConfigMaps gets and updates the ConfigMaps of one namespace; its methods have the shapes
// of client-go's typed ConfigMapInterface.
type ConfigMaps struct {
	o objects[corev1.ConfigMap, *corev1.ConfigMap]
}

// Get reads the ConfigMap name.
func (c ConfigMaps) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error) {
	return c.o.get(ctx, name, opts)
}

// Update replaces cm; the apiserver refuses it (Conflict) unless cm.ResourceVersion is the
// stored one.
func (c ConfigMaps) Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error) {
	return c.o.update(ctx, cm, opts)
}

// Leases gets, creates and updates the Leases of one namespace; its methods have the
// shapes of client-go's typed LeaseInterface.
type Leases struct {
	o objects[coordinationv1.Lease, *coordinationv1.Lease]
}

// Get reads the Lease name.
func (l Leases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	return l.o.get(ctx, name, opts)
}

// Create creates lease.
func (l Leases) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	return l.o.create(ctx, lease, opts)
}

// Update replaces lease; the apiserver refuses it (Conflict) unless lease.ResourceVersion
// is the stored one.
func (l Leases) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	return l.o.update(ctx, lease, opts)
}

// Jobs reads the Jobs of one namespace; Get has the shape of client-go's typed
// JobInterface.
type Jobs struct {
	o objects[batchv1.Job, *batchv1.Job]
}

// Get reads the Job name.
func (j Jobs) Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error) {
	return j.o.get(ctx, name, opts)
}

// object is P, a pointer to an API kind's Go type T.
type object[T any] interface {
	*T
	runtime.Object
	metav1.Object
}

// objects is one resource of one namespace whose objects have Go type T.
type objects[T any, P object[T]] struct {
	client    *rest.RESTClient
	namespace string
	resource  string
}

func (o objects[T, P]) get(ctx context.Context, name string, opts metav1.GetOptions) (P, error) {
	out := P(new(T))
	if err := o.client.Get().Namespace(o.namespace).Resource(o.resource).Name(name).
		VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (o objects[T, P]) create(ctx context.Context, obj P, opts metav1.CreateOptions) (P, error) {
	out := P(new(T))
	if err := o.client.Post().Namespace(o.namespace).Resource(o.resource).
		VersionedParams(&opts, metav1.ParameterCodec).Body(obj).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (o objects[T, P]) update(ctx context.Context, obj P, opts metav1.UpdateOptions) (P, error) {
	out := P(new(T))
	if err := o.client.Put().Namespace(o.namespace).Resource(o.resource).Name(obj.GetName()).
		VersionedParams(&opts, metav1.ParameterCodec).Body(obj).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}
