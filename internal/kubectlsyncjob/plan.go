package kubectlsyncjob

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// KindPlan is a preflight requested with plan-requested-at: `runner plan --in-cluster` in
// a one-off Job (connects, checks tables, columns and column types, maps one page, writes
// nothing); its outcome is status.preflight and the Preflight condition.
const KindPlan Kind = "plan"

// Preflight results in status.preflight.result.
const (
	preflightPassed = "Passed"
	preflightFailed = "Failed"
)

// WaitPlan follows the plan request with token on SyncJob name until the controller
// recorded the outcome of its Job in status.preflight, prints it and returns ExitOK when
// the preflight passed, ExitFailed when it failed. ctx bounds the wait.
func (p *Plugin) WaitPlan(ctx context.Context, name, token string) (int, error) {
	jobName := runcontract.RequestedJobName(name, runcontract.KindPlan, token)
	for {
		sj := &syncv1.SyncJob{}
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, sj); err != nil {
			return p.waitErr(ctx, name, KindPlan, token, err)
		}
		if pf := sj.Status.Preflight; sj.Status.LastHandledPlanRequest == token && pf != nil && pf.Job == jobName {
			switch pf.Result {
			case preflightPassed:
				fmt.Fprintf(p.Out, "preflight %s passed: %s\n", jobName, pf.Message)
				return ExitOK, nil
			case preflightFailed:
				fmt.Fprintf(p.Out, "preflight %s failed: %s\n", jobName, pf.Message)
				return ExitFailed, nil
			}
		}
		select {
		case <-ctx.Done():
			return p.waitErr(ctx, name, KindPlan, token, ctx.Err())
		case <-time.After(p.poll()):
		}
	}
}

// Forget deletes the checkpoint a deleted SyncJob left behind (its cursor, failed keys,
// backfill progress and record log are kept by default, so that a SyncJob created again
// with the same name resumes): every ConfigMap labelled for SyncJob name, the live one and
// any archived by an identity change. It refuses while the SyncJob exists: its checkpoint
// is in use (reset it instead, or set the delete-checkpoint-on-delete annotation before
// deleting it).
func (p *Plugin) Forget(ctx context.Context, name string) (int, error) {
	sj := &syncv1.SyncJob{}
	err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, sj)
	switch {
	case err == nil:
		return ExitFailed, fmt.Errorf("syncjob %s/%s exists and uses its checkpoint: reset it (kubectl syncjob reset %s -n %s), or annotate it %s=true before deleting it",
			p.Namespace, name, name, p.Namespace, syncv1.DeleteCheckpointOnDeleteAnnotation)
	case !apierrors.IsNotFound(err):
		return ExitFailed, fmt.Errorf("get syncjob %s/%s: %w", p.Namespace, name, err)
	}
	var cms corev1.ConfigMapList
	if err := p.Client.List(ctx, &cms, client.InNamespace(p.Namespace), client.MatchingLabels{runcontract.LabelJob: name}); err != nil {
		return ExitFailed, fmt.Errorf("list the checkpoints of syncjob %s/%s: %w", p.Namespace, name, err)
	}
	if len(cms.Items) == 0 {
		fmt.Fprintf(p.Out, "syncjob %s/%s left no checkpoint (no ConfigMap labelled %s=%s): nothing to forget\n", p.Namespace, name, runcontract.LabelJob, name)
		return ExitOK, nil
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		if err := p.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
			return ExitFailed, fmt.Errorf("delete checkpoint ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		fmt.Fprintf(p.Out, "deleted checkpoint ConfigMap %s/%s\n", cm.Namespace, cm.Name)
	}
	return ExitOK, nil
}
