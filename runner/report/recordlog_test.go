package report

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/audit"
)

// TestRunRecordRecordLog: the record log's size reaches the API's run record; no log, no
// field.
func TestRunRecordRecordLog(t *testing.T) {
	g := NewWithT(t)
	rec := record()
	rec.RecordLog = &audit.RecordLogStats{Entries: 12, Dropped: 3, Bytes: 4096}
	g.Expect(RunRecord(rec).RecordLog).To(Equal(&syncv1.RecordLogStatus{Entries: 12, Dropped: 3, Bytes: 4096}))
	g.Expect(RunRecord(record()).RecordLog).To(BeNil())
}
