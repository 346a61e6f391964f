package cli

import (
	"context"

	"github.com/go-logr/logr"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// sinkAdvice is what `runner plan` and the preflight warn about the sink before any run:
// with the drift check on (spec.reconcile.sample > 0), a sink whose count over the window
// needs an index it lacks says so (connector.CountAdvisor), naming the table, the column
// and the statement creating the index. A run works without it; the warning never fails a
// plan or a preflight, and a failed lookup is only logged.
func sinkAdvice(ctx context.Context, log logr.Logger, cfg engine.Config) []string {
	if cfg.Reconcile.Sample <= 0 || cfg.Reconcile.Window <= 0 || cfg.Snapshot {
		return nil
	}
	a, ok := cfg.Sink.(connector.CountAdvisor)
	if !ok {
		return nil
	}
	if cc, ok := cfg.Sink.(connector.CountCapable); ok && !cc.CanCount() {
		return nil
	}
	msg, err := a.CountAdvice(ctx)
	if err != nil {
		log.Info("could not check the sink's indexes for the drift check", "error", err.Error())
		return nil
	}
	if msg == "" {
		return nil
	}
	return []string{msg}
}
