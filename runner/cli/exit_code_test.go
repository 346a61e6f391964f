package cli

import (
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestInClusterExitCode: in cluster a PartiallySucceeded run exits 0, so its Job
// completes as the SyncJob stays Ready (the failed records are in status, the Warning
// Event and the record log, and are retried next run); locally it exits 3 for scripts.
// Failed and Interrupted runs exit 1 in both.
func TestInClusterExitCode(t *testing.T) {
	for _, tc := range []struct {
		phase            syncv1.RunPhase
		inCluster, local int
	}{
		{syncv1.RunPhaseSucceeded, runcontract.ExitOK, runcontract.ExitOK},
		{syncv1.RunPhasePartiallySucceeded, runcontract.ExitOK, runcontract.ExitPartial},
		{syncv1.RunPhaseFailed, runcontract.ExitFailed, runcontract.ExitFailed},
		{syncv1.RunPhaseInterrupted, runcontract.ExitFailed, runcontract.ExitFailed},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(inClusterExitCode(tc.phase)).To(Equal(tc.inCluster))
			g.Expect(exitCode(tc.phase)).To(Equal(tc.local))
		})
	}
}
