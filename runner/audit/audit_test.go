package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestRecorderCountsAndFinishes(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	t0 := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	now := t0
	r := New(Options{Out: &buf, Now: func() time.Time { return now }, Job: "inv", RunID: "run-1", Trigger: "Manual"})
	r.SetCursorStart(cursor.Cursor{UpdatedAt: t0.Add(-time.Hour)})
	r.AddRead(6)
	r.AddOutcome("1", "src:1", connector.Written, false)
	r.AddOutcome("2", "src:2", connector.Unchanged, false)
	r.AddOutcome("3", "src:3", connector.Stale, false)
	r.AddOutcome("4", "src:4", connector.Written, true)
	r.Fail(&connector.RecordError{ID: "5", Field: "total", Reason: "not a decimal", Detail: `"abc"`},
		cursor.Cursor{UpdatedAt: t0, ID: "5"})
	r.SetCursorEnd(cursor.Cursor{UpdatedAt: t0, ID: "6"})
	now = t0.Add(time.Minute)
	rec := r.Finish(PhasePartiallySucceeded, "", "")

	g.Expect(rec.RunID).To(Equal("run-1"))
	g.Expect(rec.Trigger).To(Equal("Manual"))
	g.Expect(rec.StartTime).To(BeTemporally("==", t0))
	g.Expect(rec.CompletionTime).To(BeTemporally("==", t0.Add(time.Minute)))
	g.Expect(rec.Read).To(BeEquivalentTo(6))
	g.Expect(rec.Upserted).To(BeEquivalentTo(1))
	g.Expect(rec.Unchanged).To(BeEquivalentTo(1))
	g.Expect(rec.Skipped).To(BeEquivalentTo(1))
	g.Expect(rec.Deleted).To(BeEquivalentTo(1))
	g.Expect(rec.Failed).To(BeEquivalentTo(1))
	g.Expect(rec.SampleIDs).To(Equal([]string{"1"}))
	g.Expect(rec.ErrorSummary).To(Equal([]ErrorGroup{{Reason: "not a decimal", Count: 1, SampleIDs: []string{"5"}}}))
	g.Expect(rec.CursorStart).To(Equal(&cursor.Cursor{UpdatedAt: t0.Add(-time.Hour)}))
	g.Expect(rec.CursorEnd).To(Equal(&cursor.Cursor{UpdatedAt: t0, ID: "6"}))

	ls := lines(t, &buf)
	g.Expect(ls).To(HaveLen(4))
	g.Expect(ls[0]).To(HaveKeyWithValue("msg", "record skipped"))
	g.Expect(ls[0]).To(HaveKeyWithValue("id", "3"))
	g.Expect(ls[1]).To(HaveKeyWithValue("msg", "record deleted"))
	g.Expect(ls[1]).To(HaveKeyWithValue("id", "4"))
	g.Expect(ls[1]).To(HaveKeyWithValue("key", "src:4"))
	g.Expect(ls[1]).To(HaveKeyWithValue("reason", DeletedByMarker))
	ls = ls[2:]
	g.Expect(ls[0]).To(HaveKeyWithValue("level", "error"))
	g.Expect(ls[0]).To(HaveKeyWithValue("msg", "record failed"))
	g.Expect(ls[0]).To(HaveKeyWithValue("runId", "run-1"))
	g.Expect(ls[0]).To(HaveKeyWithValue("id", "5"))
	g.Expect(ls[0]).To(HaveKeyWithValue("cursor", "2026-06-30T12:00:00Z/5"))
	g.Expect(ls[0]).To(HaveKeyWithValue("field", "total"))
	g.Expect(ls[0]).To(HaveKeyWithValue("reason", "not a decimal"))
	g.Expect(ls[0]).To(HaveKeyWithValue("detail", `"abc"`))
	g.Expect(ls[1]).To(HaveKeyWithValue("msg", "run finished"))
	g.Expect(ls[1]).To(HaveKeyWithValue("phase", "PartiallySucceeded"))
	g.Expect(ls[1]).To(HaveKeyWithValue("runId", "run-1"))
	g.Expect(ls[1]).To(HaveKeyWithValue("upserted", BeEquivalentTo(1)))
	g.Expect(ls[1]).To(HaveKeyWithValue("job", "inv"))
}

func TestRecorderBoundsItsLists(t *testing.T) {
	g := NewWithT(t)
	r := New(Options{Now: fixedClock(time.Unix(0, 0))})
	for i := range 1000 {
		id := fmt.Sprint(i)
		r.AddOutcome(id, "src:"+id, connector.Written, false)
		r.Fail(&connector.RecordError{ID: id, Reason: fmt.Sprintf("reason %d", i%50)}, cursor.Cursor{})
	}
	rec := r.Finish(PhaseFailed, "TooManyErrors", "")
	g.Expect(rec.Upserted).To(BeEquivalentTo(1000))
	g.Expect(rec.Failed).To(BeEquivalentTo(1000))
	g.Expect(rec.SampleIDs).To(HaveLen(MaxSampleIDs))
	g.Expect(rec.ErrorSummary).To(HaveLen(MaxErrorGroups))
	var total int64
	for _, eg := range rec.ErrorSummary {
		g.Expect(len(eg.SampleIDs)).To(BeNumerically("<=", MaxGroupSamples))
		total += eg.Count
	}
	g.Expect(total).To(BeEquivalentTo(1000), "every failure is counted in some group")
	g.Expect(rec.ErrorSummary[MaxErrorGroups-1].Reason).To(Equal(OtherReasons))
}

func TestFailTruncatesLongDetail(t *testing.T) {
	g := NewWithT(t)
	var buf bytes.Buffer
	r := New(Options{Out: &buf})
	r.Fail(&connector.RecordError{ID: "1", Reason: "rejected", Detail: strings.Repeat("é", 1000)}, cursor.Cursor{})
	ls := lines(t, &buf)
	g.Expect(ls).To(HaveLen(1))
	d := ls[0]["detail"].(string)
	g.Expect(len(d)).To(BeNumerically("<=", MaxDetail+len("…")))
	g.Expect(d).To(HaveSuffix("…"))
}

func TestCursorsBeginningIsNil(t *testing.T) {
	g := NewWithT(t)
	r := New(Options{})
	r.SetCursorStart(cursor.Beginning)
	r.SetCursorEnd(cursor.Beginning)
	rec := r.Finish(PhaseSucceeded, "", "")
	g.Expect(rec.CursorStart).To(BeNil())
	g.Expect(rec.CursorEnd).To(BeNil())
}

func TestSnapshotSharesNothing(t *testing.T) {
	g := NewWithT(t)
	r := New(Options{})
	r.SetCursorEnd(cursor.Cursor{UpdatedAt: time.Unix(1, 0).UTC(), ID: "1"})
	r.AddOutcome("1", "src:1", connector.Written, false)
	r.Fail(&connector.RecordError{ID: "2", Reason: "rejected"}, cursor.Cursor{})
	snap := r.Snapshot()
	r.SetCursorEnd(cursor.Cursor{UpdatedAt: time.Unix(2, 0).UTC(), ID: "3"})
	r.AddOutcome("4", "src:4", connector.Written, false)
	r.Fail(&connector.RecordError{ID: "5", Reason: "rejected"}, cursor.Cursor{})
	g.Expect(snap.CursorEnd.ID).To(Equal("1"))
	g.Expect(snap.SampleIDs).To(Equal([]string{"1"}))
	g.Expect(snap.ErrorSummary).To(Equal([]ErrorGroup{{Reason: "rejected", Count: 1, SampleIDs: []string{"2"}}}))
}
