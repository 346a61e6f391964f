package report

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestRunRecordFailedKeys: the failed-key count reaches status.lastRun.failedKeys, and an
// unknown count stays absent (not 0).
func TestRunRecordFailedKeys(t *testing.T) {
	g := NewWithT(t)
	n := int64(4)
	out := RunRecord(audit.Record{RunID: "r", FailedKeys: &n})
	g.Expect(out.FailedKeys).NotTo(BeNil())
	g.Expect(*out.FailedKeys).To(BeEquivalentTo(4))
	g.Expect(RunRecord(audit.Record{RunID: "r"}).FailedKeys).To(BeNil())
}
