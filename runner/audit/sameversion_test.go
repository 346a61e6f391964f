package audit

import (
	"bytes"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSameVersionCounted: a record the overlap's version check did not write is counted as
// SameVersion, neither upserted nor unchanged, and writes no record line or event.
func TestSameVersionCounted(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	r := New(Options{Out: &buf, Now: func() time.Time { return time.Unix(0, 0) }, Job: "inv", RunID: "run-1", Trigger: "Manual"})
	r.AddRead(2)
	r.AddOutcome("1", "src:1", connector.SameVersion, false)
	r.AddOutcome("2", "src:2", connector.SameVersion, false)
	rec := r.Finish(PhaseSucceeded, "", "")
	g.Expect(rec.SameVersion).To(BeEquivalentTo(2))
	g.Expect(rec.Upserted).To(BeZero())
	g.Expect(rec.Unchanged).To(BeZero())
	g.Expect(rec.Skipped).To(BeZero())
	g.Expect(rec.SampleIDs).To(BeEmpty())
	events, _ := r.Events()
	g.Expect(events).To(BeEmpty())
	g.Expect(buf.String()).NotTo(ContainSubstring("record "))
}
