package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// The floor is the convergence's same-run baseline: the requests the manager sent for a
// new SyncJob, sent for every SyncJob by a bare client with no reconcile logic, no cache and
// no watches of its own, as many in parallel as the manager's workers, on a fresh control
// plane holding the same SyncJobs. What the manager takes beyond the floor is the
// controller's own cost; a floor above the target says the target needs fewer requests per
// SyncJob, not a faster controller.

// The least floor sends only what any controller that gives each SyncJob a CronJob and a
// status must send: the CronJob and the status. A least floor above the target says no
// controller of this design meets it on this machine.

// floorWorkers is the manager's default --concurrent-reconciles; the benchmark's creates
// run as many in parallel.
const floorWorkers = 16

// inParallel calls fn for 0 … n-1 with floorWorkers calls at a time, and returns the
// first error (which cancels the calls not yet made).
func inParallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(floorWorkers)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// templates are what the manager wrote for the first SyncJob in the run, replayed with
// every other SyncJob's name by the floor: its status and its Event.
type templates struct {
	name   string
	status []byte // the SyncJob's status, JSON
	event  []byte // the Event about it, JSON
}

// capture reads the templates from the converged run's control plane.
func capture(ctx context.Context, c client.Client) (*templates, error) {
	sj := &syncv1.SyncJob{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "bench", Name: syncJob(0).Name}, sj); err != nil {
		return nil, fmt.Errorf("read the first SyncJob: %w", err)
	}
	status, err := json.Marshal(sj.Status)
	if err != nil {
		return nil, err
	}
	evs := &eventsv1.EventList{}
	if err := c.List(ctx, evs, client.InNamespace("bench")); err != nil {
		return nil, fmt.Errorf("list Events: %w", err)
	}
	for _, ev := range evs.Items {
		if ev.Regarding.Name != sj.Name {
			continue
		}
		ev.ObjectMeta = metav1.ObjectMeta{Namespace: ev.Namespace, Name: ev.Name}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		return &templates{name: sj.Name, status: status, event: b}, nil
	}
	return nil, fmt.Errorf("no Event about SyncJob %s", sj.Name)
}

// floorResult is the floor's figures.
type floorResult struct {
	wall            time.Duration
	cpuControlPlane time.Duration
	cpuClient       time.Duration
	requests        int // per SyncJob
}

// measureFloor starts a fresh control plane, creates n SyncJobs as the run did, and times
// the replay of the manager's requests for each (floorRequests), or with least only the
// CronJob's and the status's (leastRequests).
func measureFloor(n int, t *templates, least bool) (floorResult, error) {
	send, perSyncJob := floorRequests, floorRequestsPerSyncJob
	if least {
		send, perSyncJob = leastRequests, leastRequestsPerSyncJob
	}
	var res floorResult
	env, user, err := controlPlane()
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	// The manager's identity and client-side limits, so that the apiserver authenticates and
	// the client paces every request as it does the manager's.
	cfg := user.Config()
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		return res, err
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		return res, err
	}
	if err := createAll(ctx, c, n); err != nil {
		return res, err
	}
	list := &syncv1.SyncJobList{}
	if err := c.List(ctx, list, client.InNamespace("bench")); err != nil {
		return res, err
	}
	// Warm the client's discovery of every kind before the clock starts.
	if err := send(ctx, c, &list.Items[0], t); err != nil {
		return res, err
	}
	sjs := list.Items[1:]

	cpStart, selfStart := controlPlaneCPU(), selfCPU()
	start := time.Now()
	if err := inParallel(ctx, len(sjs), func(ctx context.Context, i int) error { return send(ctx, c, &sjs[i], t) }); err != nil {
		return res, err
	}
	// The first SyncJob was done before the clock started: scale to n.
	res.wall = time.Since(start) * time.Duration(n) / time.Duration(len(sjs))
	res.cpuControlPlane = (controlPlaneCPU() - cpStart) * time.Duration(n) / time.Duration(len(sjs))
	res.cpuClient = (selfCPU() - selfStart) * time.Duration(n) / time.Duration(len(sjs))
	res.requests = perSyncJob
	return res, nil
}

// floorRequestsPerSyncJob counts floorRequests' requests.
const floorRequestsPerSyncJob = 13

// floorRequests sends, for one new SyncJob, the requests the manager sends (the run's
// "by verb and resource" line), with the objects the controller's own builders make: a
// get of each applied kind (the name-conflict check: a new object is not in the cache),
// applies of the runner's ServiceAccount, Role and RoleBinding and of the CronJob, creates
// of the checkpoint ConfigMap, the run Lease and the preflight Job, the status apply and
// the Event.
func floorRequests(ctx context.Context, c client.Client, sj *syncv1.SyncJob, t *templates) error {
	opts := desired.Options{RunnerImage: "checkpointed/runner:bench"}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: sj.Namespace, Name: name} }
	for _, g := range []struct {
		obj  client.Object
		name string
	}{
		{&corev1.ServiceAccount{}, desired.ServiceAccountName(sj)},
		{&rbacv1.Role{}, desired.ServiceAccountName(sj)},
		{&rbacv1.RoleBinding{}, desired.ServiceAccountName(sj)},
		{&batchv1.CronJob{}, desired.CronJobName(sj)},
	} {
		if err := c.Get(ctx, key(g.name), g.obj); !apierrors.IsNotFound(err) {
			return fmt.Errorf("get %T %s: want NotFound, got %v", g.obj, g.name, err)
		}
	}
	owner := []client.ApplyOption{client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership}
	for _, ac := range []runtime.ApplyConfiguration{desired.ServiceAccount(sj), desired.Role(sj), desired.RoleBinding(sj)} {
		if err := c.Apply(ctx, ac, owner...); err != nil {
			return fmt.Errorf("apply %T: %w", ac, err)
		}
	}
	if err := c.Create(ctx, desired.CheckpointConfigMap(sj), client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		return fmt.Errorf("create ConfigMap: %w", err)
	}
	if err := createFrom(ctx, c, &coordinationv1.Lease{}, desired.Lease(sj)); err != nil {
		return err
	}
	if err := applyCronJob(ctx, c, sj); err != nil {
		return err
	}
	if err := createFrom(ctx, c, &batchv1.Job{}, desired.PreflightJob(sj, opts, runcontract.PreflightJobName(sj.Name, sj.Generation))); err != nil {
		return err
	}
	if err := applyStatus(ctx, c, sj, t); err != nil {
		return err
	}
	ev := &eventsv1.Event{}
	if err := json.Unmarshal(bytes.ReplaceAll(t.event, []byte(t.name), []byte(sj.Name)), ev); err != nil {
		return err
	}
	ev.Regarding.UID, ev.Regarding.ResourceVersion = sj.UID, sj.ResourceVersion
	if err := c.Create(ctx, ev); err != nil {
		return fmt.Errorf("create Event: %w", err)
	}
	return nil
}

// leastRequestsPerSyncJob counts leastRequests' requests.
const leastRequestsPerSyncJob = 2

// leastRequests sends, for one new SyncJob, only the CronJob's apply and the status apply.
func leastRequests(ctx context.Context, c client.Client, sj *syncv1.SyncJob, t *templates) error {
	if err := applyCronJob(ctx, c, sj); err != nil {
		return err
	}
	return applyStatus(ctx, c, sj, t)
}

// applyCronJob applies the SyncJob's CronJob as the controller does, stamped with a digest
// of the configuration's length (64 hex digits).
func applyCronJob(ctx context.Context, c client.Client, sj *syncv1.SyncJob) error {
	cj := desired.CronJob(sj, desired.Options{RunnerImage: "checkpointed/runner:bench"}).
		WithAnnotations(map[string]string{"sync.checkpointed.io/applied-digest": strings.Repeat("0", 64)})
	if err := c.Apply(ctx, cj, client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply CronJob: %w", err)
	}
	return nil
}

// applyStatus applies the template status with sj's name, as the controller applies its
// status fields.
func applyStatus(ctx context.Context, c client.Client, sj *syncv1.SyncJob, t *templates) error {
	status := map[string]any{}
	if err := json.Unmarshal(bytes.ReplaceAll(t.status, []byte(t.name), []byte(sj.Name)), &status); err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(syncv1.GroupVersion.String())
	u.SetKind("SyncJob")
	u.SetNamespace(sj.Namespace)
	u.SetName(sj.Name)
	if err := c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(runcontract.ControllerFieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply status: %w", err)
	}
	return nil
}

// createFrom creates the object want describes, as the controller's createOwned does.
func createFrom(ctx context.Context, c client.Client, obj client.Object, want runtime.ApplyConfiguration) error {
	b, err := json.Marshal(want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, obj); err != nil {
		return err
	}
	if err := c.Create(ctx, obj, client.FieldOwner(runcontract.ControllerFieldManager)); err != nil {
		return fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// controlPlane starts a fresh envtest control plane and adds the manager's user to it
// (group system:masters, authenticated by a client certificate).
func controlPlane() (*kubetest.Env, *envtest.AuthenticatedUser, error) {
	env, err := kubetest.Start()
	if err != nil {
		return nil, nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	return env, user, nil
}
