package audit

import (
	"bytes"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestStaleSkipsAreLogged: each record the sink refused as stale (counted as skipped) has
// its own "record skipped" log line naming it and its external key, like a failed record;
// other outcomes have none.
func TestStaleSkipsAreLogged(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	r := New(Options{Out: &buf, Now: fixedClock(time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)), Job: "inv", RunID: "run-1"})
	r.AddOutcome("1", "src:1", connector.Written, false)
	r.AddOutcome("2", "src:2", connector.Stale, false)
	r.AddOutcome("3", "src:3", connector.Unchanged, false)
	r.AddOutcome("4", "src:4", connector.Stale, false)

	g.Expect(r.Snapshot().Skipped).To(BeEquivalentTo(2))
	ls := lines(t, &buf)
	g.Expect(ls).To(HaveLen(2))
	for i, id := range []string{"2", "4"} {
		g.Expect(ls[i]).To(HaveKeyWithValue("level", "info"))
		g.Expect(ls[i]).To(HaveKeyWithValue("msg", "record skipped"))
		g.Expect(ls[i]).To(HaveKeyWithValue("job", "inv"))
		g.Expect(ls[i]).To(HaveKeyWithValue("runId", "run-1"))
		g.Expect(ls[i]).To(HaveKeyWithValue("id", id))
		g.Expect(ls[i]).To(HaveKeyWithValue("key", "src:"+id), "the external key the sink refused")
		g.Expect(ls[i]).To(HaveKeyWithValue("reason", ReasonStale))
	}
}
