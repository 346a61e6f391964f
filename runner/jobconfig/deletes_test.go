package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// TestKeySource: the key forms full key reconciliation and tombstones can list from a
// source field, and those they cannot.
func TestKeySource(t *testing.T) {
	for _, tc := range []struct {
		expr, field, prefix string
		ok                  bool
	}{
		{"", "id", "billing:", true},
		{"record.id", "id", "", true},
		{"string(record.invoice_no)", "invoice_no", "", true},
		{`"inv-" + string(record.id)`, "id", "inv-", true},
		{` "x:"+record.code `, "code", "x:", true},
		{`record.id + "-x"`, "", "", false},
		{`string(record.a.b)`, "", "", false},
		{`lowerAscii(record.email)`, "", "", false},
		{`"a\"b" + string(record.id)`, "", "", false},
	} {
		g := NewWithT(t)
		s := &syncv1.SyncJobSpec{Source: syncv1.SourceSpec{Name: "billing"}, Key: syncv1.KeySpec{Field: "k", Expr: tc.expr}}
		field, prefix, ok := keySource(s)
		g.Expect(ok).To(Equal(tc.ok), tc.expr)
		if tc.ok {
			g.Expect(field).To(Equal(tc.field), tc.expr)
			g.Expect(prefix).To(Equal(tc.prefix), tc.expr)
		}
	}
}

// TestDeleteRequest: a reconcile request forces full key reconciliation only where it can
// run; the confirmation is always passed on.
func TestDeleteRequest(t *testing.T) {
	g := NewWithT(t)
	sj := &syncv1.SyncJob{Spec: syncv1.SyncJobSpec{Deletes: syncv1.DeletesSpec{Mode: "Delete"}}}
	cfg := engine.Config{}
	g.Expect(DeleteRequest(&cfg, sj, true, "tok")).To(ContainSubstring("cannot list its keys"))
	g.Expect(cfg.Deletes.Force).To(BeFalse())
	g.Expect(cfg.Deletes.Confirm).To(Equal("tok"))

	cfg.Deletes.SourceKeys = engine.PrefixedKeys(nil, "id", "")
	g.Expect(DeleteRequest(&cfg, sj, true, "")).To(BeEmpty())
	g.Expect(cfg.Deletes.Force).To(BeTrue())

	sj.Spec.Deletes.Mode = "Ignore"
	cfg = engine.Config{}
	g.Expect(DeleteRequest(&cfg, sj, true, "")).To(ContainSubstring("Ignore"))
	g.Expect(cfg.Deletes.Force).To(BeFalse())
}

// TestSnapshotSchedulesFullReconcile: in Snapshot mode a delete mode other than Ignore
// reconciles keys after every complete run, unless fullReconcile.everyRuns says otherwise;
// under Ignore, or in Incremental mode without fullReconcile, nothing is scheduled.
func TestSnapshotSchedulesFullReconcile(t *testing.T) {
	src := struct {
		connector.Source
		connector.FieldLister
	}{}
	sink := struct {
		connector.Sink
		connector.KeyLister
		connector.KeyDeleter
	}{}
	for _, tc := range []struct {
		name      string
		mode      string
		deletes   syncv1.DeletesSpec
		everyRuns int
		keys      bool
	}{
		{"Snapshot, Delete", syncv1.CursorSnapshot, syncv1.DeletesSpec{Mode: "Delete"}, 1, true},
		{"Snapshot, SoftDelete", syncv1.CursorSnapshot, syncv1.DeletesSpec{Mode: "SoftDelete"}, 1, true},
		{"Snapshot, explicit everyRuns", syncv1.CursorSnapshot, syncv1.DeletesSpec{Mode: "Delete", FullReconcile: &syncv1.FullReconcileSpec{EveryRuns: 24}}, 24, true},
		{"Snapshot, Ignore", syncv1.CursorSnapshot, syncv1.DeletesSpec{Mode: "Ignore"}, 0, false},
		{"Incremental, marker only", syncv1.CursorIncremental, syncv1.DeletesSpec{Mode: "Delete", SourceField: "deleted_at"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := &syncv1.SyncJobSpec{
				Cursor:  syncv1.CursorSpec{Mode: tc.mode},
				Source:  syncv1.SourceSpec{Name: "billing", Postgres: &syncv1.PostgresSource{IDColumn: "id"}},
				Sink:    syncv1.SinkSpec{Postgres: &syncv1.PostgresSink{}},
				Deletes: tc.deletes,
			}
			d, err := deletesConfig(s, src, sink)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.EveryRuns).To(Equal(tc.everyRuns))
			g.Expect(d.SourceKeys != nil).To(Equal(tc.keys))
		})
	}
}
