package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
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
