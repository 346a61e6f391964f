package checkpoint

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

func sampleLog() runcontract.RecordLog {
	return runcontract.RecordLog{Dropped: 2, Entries: []runcontract.RecordEvent{
		{Kind: runcontract.RecordFailed, RunID: "r1", ID: "inv_10492", Field: "total", Reason: "not a decimal"}}}
}

// TestConfigMapStoreRecordLog: the record log sits beside the checkpoint in the ConfigMap
// (key record-log.json), written in the same compare-and-swap; a new store (a new Pod)
// reads it back; a conflicting save writes neither key.
func TestConfigMapStoreRecordLog(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	createCheckpointConfigMap(g, cs, ns, "sj1", nil)
	a, b := NewConfigMapStore(configMaps(t, ns), ns, "sj1"), NewConfigMapStore(configMaps(t, ns), ns, "sj1")

	l, err := a.LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l).To(Equal(runcontract.RecordLog{}), "a missing key is an empty log")
	_, err = a.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.SaveWithRecordLog(ctx, sampleState(), sampleLog())).To(Succeed())

	other := sampleLog()
	other.Dropped = 99
	err = b.SaveWithRecordLog(ctx, sampleState(), other)
	g.Expect(errors.Is(err, ErrConflict)).To(BeTrue(), "%v", err)

	got, err := NewConfigMapStore(configMaps(t, ns), ns, "sj1").LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	want := sampleLog()
	want.Job = "sj1"
	g.Expect(got).To(Equal(want))
}

// TestFileStoreRecordLog: locally the record log is <dir>/record-log.json, saved under the
// checkpoint file's compare-and-swap.
func TestFileStoreRecordLog(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := t.TempDir()
	a, b := NewFileStore(dir, "sj1"), NewFileStore(dir, "sj1")
	_, err := a.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.SaveWithRecordLog(ctx, sampleState(), sampleLog())).To(Succeed())
	g.Expect(errors.Is(b.SaveWithRecordLog(ctx, sampleState(), runcontract.RecordLog{}), ErrConflict)).To(BeTrue())

	got, err := NewFileStore(dir, "sj1").LoadRecordLog(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	want := sampleLog()
	want.Job = "sj1"
	g.Expect(got).To(Equal(want))
	g.Expect(a.RecordLogPath()).To(HaveSuffix("/record-log.json"))
}
