package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
)

// TestUnwritableStoreWritesNothing: a store that refuses to save (a read-only directory, a
// ConfigMap without update rights) fails the run before the first sink write; a store
// moved by another runner between load and that first save is a conflict, also before any
// write.
func TestUnwritableStoreWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		reason string
		msg    string
	}{
		{"read-only", errors.New(`configmaps "inv-checkpoint" is forbidden: cannot update`), runcontract.ReasonCheckpointError, "not writable, so nothing was written to the sink"},
		{"moved", fmt.Errorf("configmap changed: %w", checkpoint.ErrConflict), runcontract.ReasonCheckpointConflict, "before the first write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(20, 1))
			e.store.state.FailedKeys = []string{"3"} // retried records are writes too
			e.store.saveErrAt = map[int]error{1: tc.err, 2: tc.err, 3: tc.err}
			res, err := Run(context.Background(), e.config())
			re := runErr(t, err)
			g.Expect(re.Reason).To(Equal(tc.reason))
			g.Expect(re.Message).To(ContainSubstring(tc.msg))
			g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
			g.Expect(e.sink.calls).To(BeZero(), "nothing written to the sink")
			g.Expect(e.src.fetches).To(BeEmpty())
			g.Expect(e.store.saveCalls).To(Equal(1), "no further save")
		})
	}
}
