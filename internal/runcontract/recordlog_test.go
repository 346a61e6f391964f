package runcontract

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestRecordLogBound: the log keeps the most recent entries within both bounds, drops the
// oldest first and counts every drop.
func TestRecordLogBound(t *testing.T) {
	g := NewWithT(t)
	l := RecordLog{Job: "j", Dropped: 3}
	for i := range 50 {
		l.Entries = append(l.Entries, RecordEvent{Kind: RecordFailed, ID: fmt.Sprint(i), Reason: "not a decimal"})
	}
	l.Bound(20, 1<<20)
	g.Expect(l.Entries).To(HaveLen(20))
	g.Expect(l.Entries[0].ID).To(Equal("30"), "the oldest go first")
	g.Expect(l.Entries[19].ID).To(Equal("49"))
	g.Expect(l.Dropped).To(Equal(int64(3 + 30)))

	// By size: 2 KiB of details each, a 16 KiB bound.
	l = RecordLog{Job: "j"}
	for i := range 40 {
		l.Entries = append(l.Entries, RecordEvent{Kind: RecordFailed, ID: fmt.Sprint(i), Detail: strings.Repeat("x", 2048)})
	}
	l.Bound(1000, 16<<10)
	data, err := EncodeRecordLog("j", l)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(data)).To(BeNumerically("<=", 16<<10))
	g.Expect(len(l.Entries)).To(BeNumerically(">=", 6), "not more dropped than needed")
	g.Expect(l.Entries[len(l.Entries)-1].ID).To(Equal("39"))
	g.Expect(l.Dropped).To(Equal(int64(40 - len(l.Entries))))
}

// TestRecordLogRunsAndCovers: run ranges are kept per run id (the latest save wins), at
// most MaxRunHistory, and a range covers (start, end].
func TestRecordLogRunsAndCovers(t *testing.T) {
	g := NewWithT(t)
	at := func(m int, id string) *cursor.Cursor {
		return &cursor.Cursor{UpdatedAt: time.Date(2026, 6, 30, 12, m, 0, 0, time.UTC), ID: id}
	}
	var l RecordLog
	for i := range MaxRunHistory + 5 {
		l.AddRun(RunRange{RunID: fmt.Sprint(i), CursorEnd: at(i, "1")})
	}
	l.AddRun(RunRange{RunID: fmt.Sprint(MaxRunHistory + 4), Phase: "Succeeded"})
	g.Expect(l.Runs).To(HaveLen(MaxRunHistory))
	g.Expect(l.Runs[0].RunID).To(Equal("5"))
	g.Expect(l.Runs[MaxRunHistory-1].Phase).To(Equal("Succeeded"))

	ids := func(a, b string) int { return strings.Compare(a, b) }
	r := RunRange{CursorStart: at(10, ""), CursorEnd: at(20, "5")}
	g.Expect(r.Covers(*at(10, ""), ids)).To(BeFalse())
	g.Expect(r.Covers(*at(10, "1"), ids)).To(BeTrue())
	g.Expect(r.Covers(*at(20, "5"), ids)).To(BeTrue())
	g.Expect(r.Covers(*at(20, "6"), ids)).To(BeFalse())
	g.Expect(RunRange{CursorEnd: at(5, "1")}.Covers(*at(1, "1"), ids)).To(BeTrue(), "nil start: the beginning")
	g.Expect(RunRange{}.Covers(*at(1, "1"), ids)).To(BeFalse(), "nil end covers nothing")
}

// TestDecodeRecordLog: blank data and JSON without "job" are refused; another job's too.
func TestDecodeRecordLog(t *testing.T) {
	g := NewWithT(t)
	_, err := DecodeRecordLog("j", []byte(" "))
	g.Expect(err).To(MatchError(ContainSubstring("present but empty")))
	_, err = DecodeRecordLog("j", []byte("{}"))
	g.Expect(err).To(MatchError(ContainSubstring(`no "job" field`)))
	_, err = DecodeRecordLog("j", []byte(`{"job": "k"}`))
	g.Expect(err).To(MatchError(ContainSubstring(`belongs to job "k"`)))
	g.Expect(err).To(MatchError(ErrInvalidRecordLog))
	data, err := EncodeRecordLog("j", RecordLog{Dropped: 2, Entries: []RecordEvent{{Kind: RecordStale, ID: "1", Key: "k1"}}})
	g.Expect(err).NotTo(HaveOccurred())
	l, err := DecodeRecordLog("j", data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l.Job).To(Equal("j"))
	g.Expect(l.Dropped).To(Equal(int64(2)))
	g.Expect(l.Entries).To(Equal([]RecordEvent{{Kind: RecordStale, ID: "1", Key: "k1"}}))
}
