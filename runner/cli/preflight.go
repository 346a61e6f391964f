package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
	"github.com/checkpointed/checkpointed/runner/jobconfig"
	"github.com/checkpointed/checkpointed/runner/report"
)

// PlanInCluster is a preflight Job's command (`runner plan --in-cluster`): it reads the
// SyncJob in from the apiserver at cfg, connects to the source and the sink (checking
// tables, columns and the sink's column types, as a run's setup does), reads one page
// after the stored checkpoint and maps it. It writes nothing: no sink write, no
// checkpoint, no status, no Event, and it takes no run lock, so it never delays a run.
//
// The verdict is the container's termination message (runcontract.PreflightMessage),
// which the controller turns into the Preflight condition: passed with what one page
// would do, or failed with the error, which names the field and the Secret, key, table or
// column (credentials redacted). The plan is printed to stdout. Exit code
// runcontract.ExitOK when it passed, runcontract.ExitFailed when it failed.
func PlanInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, stdout io.Writer) (int, error) {
	msg, err := planInCluster(ctx, log, cfg, in, stdout)
	if err != nil {
		writePreflight(false, runstatus.Redact(err.Error()))
		return runcontract.ExitFailed, err
	}
	writePreflight(true, msg)
	return runcontract.ExitOK, nil
}

func planInCluster(ctx context.Context, log logr.Logger, cfg *rest.Config, in InCluster, stdout io.Writer) (string, error) {
	api, err := kubeapi.New(cfg)
	if err != nil {
		return "", err
	}
	sj, err := api.GetSyncJob(ctx, in.Namespace, in.Name)
	if err != nil {
		return "", fmt.Errorf("get SyncJob %s/%s: %w", in.Namespace, in.Name, err)
	}
	sj.Default()
	runID := in.Pod
	if runID == "" {
		runID = newRunID()
	}
	engCfg, closeAll, err := jobconfig.Build(ctx, log, sj, runID, runcontract.TriggerPlan)
	if err != nil {
		return "", err
	}
	defer closeAll()
	advice := sinkAdvice(ctx, log, engCfg) // sinkadvice.go
	engCfg.DryRun = true
	engCfg.Sink = nil
	engCfg.Lock = nil
	engCfg.Publisher = nil
	engCfg.Source = onePage{engCfg.Source}
	// Read only: the stored cursor says where the page starts; a dry run never saves.
	engCfg.Store = checkpoint.NewConfigMapStore(api.ConfigMaps(in.Namespace), in.Namespace, in.Name)
	engCfg.PreviewLimit = 3
	engCfg.AuditOut = io.Discard
	res, err := engine.Run(ctx, engCfg)
	var runErr *engine.RunError
	if err != nil && !errors.As(err, &runErr) {
		return "", err
	}
	rec := report.RunRecord(res.Record)
	var writes int64
	if res.Plan != nil {
		writes = res.Plan.Writes
	}
	if err := writeJSON(stdout, planOutput{Read: rec.Read, Writes: writes, Failed: rec.Failed, Cursor: rec.CursorStart,
		Errors: rec.ErrorSummary, MappingChange: rec.MappingChange, Warnings: append(rec.Warnings, advice...), Records: []planRecord{}}); err != nil {
		log.Error(err, "print plan")
	}
	if rec.Phase == syncv1.RunPhaseFailed || rec.Phase == syncv1.RunPhaseInterrupted {
		msg := rec.Reason
		if rec.Message != "" {
			msg += ": " + rec.Message
		}
		return "", errors.New(msg)
	}
	summary := fmt.Sprintf("connected to the source and the sink; one page: read %d records, %d would be written, %d would fail",
		rec.Read, writes, rec.Failed)
	var groups []string
	for _, e := range rec.ErrorSummary {
		groups = append(groups, fmt.Sprintf("%s (%d)", e.Reason, e.Count))
	}
	if len(groups) > 0 {
		summary += " (" + strings.Join(groups, ", ") + ")"
	}
	for _, a := range advice {
		summary += "; warning: " + a
	}
	return summary, nil
}

// onePage ends the source after its first page: a preflight maps one page.
type onePage struct{ connector.Source }

// ReadPage implements connector.Source.
func (o onePage) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	p, err := o.Source.ReadPage(ctx, after, limit)
	p.More = false
	return p, err
}

// writePreflight leaves the preflight's verdict as the termination message, best effort.
func writePreflight(passed bool, msg string) {
	_ = os.WriteFile(terminationLog, []byte(runcontract.PreflightMessage(passed, msg)+"\n"), 0o644)
}
