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

// TestRecordLogIsDurableAndBounded: the record log is stored with the checkpoint (a file
// store here), survives into the next run, which adds its own events and cursor range,
// and stays within MaxRecordLogEntries, dropping the oldest first and counting them; the
// run record reports its size.
func TestRecordLogIsDurableAndBounded(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := t.TempDir()
	e := newEnv(genRecords(runcontract.MaxRecordLogEntries+10, 1))
	e.mp.fail = set("3", "7")
	cfg := e.config()
	cfg.PageSize = 100
	cfg.Store = checkpoint.NewFileStore(dir, "inv")
	cfg.RunID = "run-1"

	res, err := Run(ctx, cfg)
	g.Expect(err).NotTo(HaveOccurred())
	log, err := checkpoint.NewFileStore(dir, "inv").LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(log.Job).To(Equal("inv"))
	g.Expect(log.Entries).To(HaveLen(2))
	g.Expect(log.Entries[0]).To(And(HaveField("Kind", runcontract.RecordFailed), HaveField("ID", "3"),
		HaveField("RunID", "run-1"), HaveField("Field", "total"), HaveField("Reason", "not a decimal"),
		HaveField("Detail", `"abc"`), HaveField("SourceUpdatedAt", Not(BeNil()))))
	g.Expect(log.Runs).To(HaveLen(1))
	g.Expect(log.Runs[0].RunID).To(Equal("run-1"))
	g.Expect(*log.Runs[0].CursorEnd).To(Equal(*res.Cursor))
	g.Expect(log.Runs[0].Phase).To(Equal(string(res.Record.Phase)))
	g.Expect(res.Record.RecordLog).To(Equal(&audit.RecordLogStats{Entries: 2, Dropped: 0, Bytes: res.Record.RecordLog.Bytes}))
	g.Expect(res.Record.RecordLog.Bytes).To(BeNumerically(">", 0))

	// A second run, in a new store (a new process): every record fails now, more than the
	// log holds; the first run's events are the oldest and go first.
	e.mp.fail = nil
	e.mp.failOnce = map[string]int{}
	for _, r := range e.src.recs {
		e.mp.failOnce[r.ID] = 1
	}
	e.mp.failOnce["3"], e.mp.failOnce["7"] = 2, 2 // retried first, fail again
	cfg.Store = checkpoint.NewFileStore(dir, "inv")
	cfg.RunID = "run-2"
	cfg.SafetyGap = 1 << 62 // re-read everything
	cfg.maxFailedKeys = 1 << 20
	res, err = Run(ctx, cfg)
	g.Expect(err).NotTo(HaveOccurred())
	log, err = checkpoint.NewFileStore(dir, "inv").LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(log.Entries).To(HaveLen(runcontract.MaxRecordLogEntries))
	total := int64(2) + res.Record.Failed
	g.Expect(log.Dropped).To(Equal(total-int64(runcontract.MaxRecordLogEntries)), "every drop counted")
	for _, en := range log.Entries {
		g.Expect(en.RunID).To(Equal("run-2"), "the oldest (run-1's) went first")
	}
	g.Expect(log.Runs).To(HaveLen(2))
	g.Expect(log.Runs[0].RunID).To(Equal("run-1"), "run history survives")
	g.Expect(log.Runs[1].RunID).To(Equal("run-2"))
	g.Expect(res.Record.RecordLog.Dropped).To(Equal(log.Dropped))
}

// logStore is a fakeStore that keeps a record log and can fail to read it.
type logStore struct {
	*fakeStore
	log     runcontract.RecordLog
	loadErr error
	saved   int
}

func (s *logStore) LoadRecordLog(context.Context) (runcontract.RecordLog, error) {
	return s.log, s.loadErr
}

func (s *logStore) SaveWithRecordLog(ctx context.Context, st runcontract.Checkpoint, l runcontract.RecordLog) error {
	if err := s.Save(ctx, st); err != nil {
		return err
	}
	s.log = l
	s.saved++
	return nil
}

// TestRecordLogThatCannotBeUsed: a stored log that is not a record log is replaced by a
// new one; one that could not be read is left alone (the run writes the checkpoint only);
// neither stops the sync.
func TestRecordLogThatCannotBeUsed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantSaved bool
	}{
		{name: "invalid", err: fmt.Errorf("key record-log.json %w: it has no \"job\" field", runcontract.ErrInvalidRecordLog), wantSaved: true},
		{name: "unreadable", err: errors.New("connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(genRecords(10, 1))
			e.mp.fail = set("3")
			cfg := e.config()
			st := &logStore{fakeStore: e.store, log: runcontract.RecordLog{Job: "old", Dropped: 5}, loadErr: tc.err}
			cfg.Store = st
			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Record.Upserted).To(BeEquivalentTo(9))
			if tc.wantSaved {
				g.Expect(st.log.Job).To(Equal("inv"))
				g.Expect(st.log.Dropped).To(BeZero())
				g.Expect(st.log.Entries).To(HaveLen(1))
				return
			}
			g.Expect(st.saved).To(BeZero())
			g.Expect(st.log).To(Equal(runcontract.RecordLog{Job: "old", Dropped: 5}))
			g.Expect(res.Record.RecordLog).To(BeNil())
			g.Expect(e.store.state.Cursor).NotTo(BeNil(), "the checkpoint is still stored")
		})
	}
}
