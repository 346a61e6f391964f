package engine

import (
	"bytes"
	"context"
	"iter"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// keySink is the fake sink with key listing and key deletes (hard deletes).
type keySink struct{ *fakeSink }

func (s keySink) Keys(_ context.Context, after string) iter.Seq2[string, error] {
	s.mu.Lock()
	keys := make([]string, 0, len(s.rows))
	for k := range s.rows {
		if k > after {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	return func(yield func(string, error) bool) {
		for _, k := range keys {
			if !yield(k, nil) {
				return
			}
		}
	}
}

func (s keySink) DeleteKeys(_ context.Context, dels []connector.KeyDelete) ([]connector.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := make([]connector.Result, len(dels))
	for i, d := range dels {
		k := d.Key
		w, ok := s.rows[k]
		switch {
		case !ok:
			res[i].Outcome = connector.Unchanged
		case w.SourceUpdatedAt.After(d.At):
			res[i].Outcome = connector.Stale
		default:
			delete(s.rows, k)
			res[i].Outcome = connector.Written
		}
	}
	return res, nil
}

// sourceKeys lists the fake source's mapped keys ("src:<id>") in byte order.
type sourceKeys struct{ s *fakeSource }

func (k sourceKeys) Keys(_ context.Context, after string) iter.Seq2[string, error] {
	k.s.mu.Lock()
	var keys []string
	for _, r := range k.s.recs {
		if key := "src:" + r.ID; key > after {
			keys = append(keys, key)
		}
	}
	k.s.mu.Unlock()
	slices.Sort(keys)
	return seqOf(keys)
}

func seqOf(keys []string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for _, k := range keys {
			if !yield(k, nil) {
				return
			}
		}
	}
}

// deletesEnv is an env whose sink lists and deletes keys, holding the mapped records of
// ids 1..n plus the extra keys, and whose source holds ids 1..n.
func deletesEnv(t *testing.T, n int, extra ...string) (*env, Config, *bytes.Buffer) {
	t.Helper()
	e := newEnv(genRecords(n, 1))
	for _, r := range e.src.recs {
		w := mapRecord(r)
		e.sink.rows[w.Key] = w
	}
	for _, k := range extra {
		e.sink.rows[k] = connector.WriteRecord{Key: k, SourceUpdatedAt: t0}
	}
	cfg := e.config()
	cfg.Sink = keySink{e.sink}
	var out bytes.Buffer
	cfg.AuditOut = &out
	cfg.Deletes = Deletes{SourceKeys: sourceKeys{e.src}, EveryRuns: 1, MaxFraction: 0.05}
	return e, cfg, &out
}

func TestFullReconcileDeletesKeysAbsentFromSource(t *testing.T) {
	g := NewWithT(t)
	e, cfg, out := deletesEnv(t, 40, "src:1000", "src:99") // 2 of 42: under 5 %
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeEquivalentTo(2))
	g.Expect(e.sink.snapshot()).NotTo(HaveKey("src:1000"))
	g.Expect(e.sink.snapshot()).NotTo(HaveKey("src:99"))
	g.Expect(e.sink.snapshot()).To(HaveLen(40))
	g.Expect(out.String()).To(ContainSubstring(`"msg":"record deleted"`))
	g.Expect(out.String()).To(ContainSubstring(`"key":"src:1000","reason":"absent from source"`))
	g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(0))
}

func TestFullReconcileSchedule(t *testing.T) {
	g := NewWithT(t)
	e, cfg, _ := deletesEnv(t, 40, "src:extra")
	cfg.Deletes.EveryRuns = 3
	for run, want := range []int{1, 2} {
		res, err := Run(context.Background(), cfg)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Record.Deleted).To(BeZero(), "run %d is not due", run+1)
		g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(want))
	}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeEquivalentTo(1), "the third run reconciles")
	g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(0))

	// Off (no everyRuns) unless forced.
	e.sink.rows["src:again"] = connector.WriteRecord{Key: "src:again", SourceUpdatedAt: t0}
	cfg.Deletes.EveryRuns = 0
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeZero())
	cfg.Deletes.Force = true
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeEquivalentTo(1))
}

// TestDeleteValve: an emptied source would delete every sink key; the valve refuses, says
// how to confirm, deletes nothing, still syncs; the printed token confirms.
func TestDeleteValve(t *testing.T) {
	g := NewWithT(t)
	e, cfg, _ := deletesEnv(t, 20)
	e.src.set(nil) // the source was emptied (or the credentials point at an empty database)
	res, err := Run(context.Background(), cfg)
	re := runErr(t, err)
	g.Expect(re.Reason).To(Equal(runcontract.ReasonDeleteValve))
	token := ConfirmToken("inv", 20, 20)
	g.Expect(re.Message).To(ContainSubstring("20 of the sink's 20 keys absent from the source"))
	g.Expect(re.Message).To(ContainSubstring("nothing was deleted"))
	g.Expect(re.Message).To(ContainSubstring("kubectl annotate syncjob inv sync.checkpointed.io/confirm-deletes=" + token))
	g.Expect(res.Record.Deleted).To(BeZero())
	g.Expect(e.sink.snapshot()).To(HaveLen(20))
	g.Expect(e.store.get().RunsSinceFullReconcile).To(Equal(1), "a refused reconciliation is still due next run")

	// A wrong token does not pass.
	cfg.Deletes.Confirm = ConfirmToken("inv", 19, 20)
	_, err = Run(context.Background(), cfg)
	g.Expect(runErr(t, err).Reason).To(Equal(runcontract.ReasonDeleteValve))
	g.Expect(e.sink.snapshot()).To(HaveLen(20))

	cfg.Deletes.Confirm = token
	res, err = Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeEquivalentTo(20))
	g.Expect(e.sink.snapshot()).To(BeEmpty())
}

// TestDeleteValveStillSyncs: records are written and the cursor advances when the valve
// trips.
func TestDeleteValveStillSyncs(t *testing.T) {
	g := NewWithT(t)
	e, cfg, _ := deletesEnv(t, 10, "src:a", "src:b", "src:c")
	e.src.set(append(genRecords(10, 1), connector.Record{ID: "11", UpdatedAt: t0.Add(time.Hour), Fields: map[string]any{"n": int64(11)}}))
	res, err := Run(context.Background(), cfg)
	g.Expect(runErr(t, err).Reason).To(Equal(runcontract.ReasonDeleteValve))
	g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:11"))
	g.Expect(e.sink.snapshot()).To(HaveKey("src:a"))
	g.Expect(e.store.get().Cursor).NotTo(BeNil())
	g.Expect(e.store.get().Cursor.ID).To(Equal("11"))
}

func TestDeleteLimit(t *testing.T) {
	for _, tc := range []struct {
		frac  float64
		total int64
		want  int64
	}{
		{0, 1000, 50}, {0.05, 1000, 50}, {0.05, 19, 0}, {1, 7, 7}, {-1, 1000, 0}, {0.1, 0, 0},
	} {
		g := NewWithT(t)
		g.Expect(Deletes{MaxFraction: tc.frac}.limit(tc.total)).To(Equal(tc.want), "fraction %v of %d", tc.frac, tc.total)
	}
	g := NewWithT(t)
	g.Expect(ConfirmToken("a", 1, 2)).NotTo(Equal(ConfirmToken("b", 1, 2)))
	g.Expect(strings.HasPrefix(ConfirmToken("a", 1, 2), "1-of-2-")).To(BeTrue())
}

// TestIgnoreDeletesNothing: without full reconciliation configured, keys absent from the
// source stay.
func TestIgnoreDeletesNothing(t *testing.T) {
	g := NewWithT(t)
	e, cfg, _ := deletesEnv(t, 10, "src:gone")
	cfg.Deletes = Deletes{}
	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Deleted).To(BeZero())
	g.Expect(e.sink.snapshot()).To(HaveKey("src:gone"))
}
