package mapping

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestFingerprint: what changes the mapping's fingerprint (anything that changes what is
// written) and what does not (the order of the entries, the deletion marker, the resolver,
// the source name once a key expression replaces the default key).
func TestFingerprint(t *testing.T) {
	base := func() Spec {
		return Spec{
			SourceName: "billing",
			Key:        Key{Field: "ext_id"},
			Fields: []Field{
				{To: "amount", From: "total", Type: connector.TypeDecimal, Required: true},
				{To: "status", Expr: `record.state`, Type: connector.TypeString},
				{To: "account_id", From: "customer_id", Type: connector.TypeString,
					Lookup: &connector.Lookup{URL: "http://crm/accounts?c={value}", ResultsPath: "results", IDPath: "id"}},
			},
		}
	}
	withKeyExpr := func() Spec { s := base(); s.Key.Expr = `"inv-" + record.id`; return s }
	tests := []struct {
		name    string
		spec    func() Spec
		ref     func() Spec // compared with; base when nil
		changed bool
	}{
		{"same spec", base, nil, false},
		{"entries reordered", func() Spec { s := base(); s.Fields[0], s.Fields[2] = s.Fields[2], s.Fields[0]; return s }, nil, false},
		{"deletion marker", func() Spec { s := base(); s.DeletedField = "deleted_at"; return s }, nil, false},
		{"source name with a key expression", func() Spec { s := withKeyExpr(); s.SourceName = "other"; return s }, withKeyExpr, false},
		{"key field", func() Spec { s := base(); s.Key.Field = "billing_id"; return s }, nil, true},
		{"key expression", withKeyExpr, nil, true},
		{"source name of the default key", func() Spec { s := base(); s.SourceName = "erp"; return s }, nil, true},
		{"from", func() Spec { s := base(); s.Fields[0].From = "net_total"; return s }, nil, true},
		{"to", func() Spec { s := base(); s.Fields[0].To = "amount_due"; return s }, nil, true},
		{"type", func() Spec { s := base(); s.Fields[0].Type = connector.TypeString; return s }, nil, true},
		{"expr", func() Spec { s := base(); s.Fields[1].Expr = `record.state + "x"`; return s }, nil, true},
		{"from becomes expr", func() Spec { s := base(); s.Fields[0].From, s.Fields[0].Expr = "", "record.total"; return s }, nil, true},
		{"required", func() Spec { s := base(); s.Fields[0].Required = false; return s }, nil, true},
		{"lookup url", func() Spec { s := base(); s.Fields[2].Lookup.URL = "http://crm/accounts?id={value}"; return s }, nil, true},
		{"lookup idPath", func() Spec { s := base(); s.Fields[2].Lookup.IDPath = "uuid"; return s }, nil, true},
		{"lookup removed", func() Spec { s := base(); s.Fields[2].Lookup = nil; return s }, nil, true},
		{"entry added", func() Spec {
			s := base()
			s.Fields = append(s.Fields, Field{To: "currency", From: "currency", Type: connector.TypeString})
			return s
		}, nil, true},
		{"entry removed", func() Spec { s := base(); s.Fields = s.Fields[:2]; return s }, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ref := base
			if tc.ref != nil {
				ref = tc.ref
			}
			got, want := tc.spec().Fingerprint(), ref().Fingerprint()
			g.Expect(got).To(MatchRegexp(`^m1-[0-9a-f]{16}$`))
			if tc.changed {
				g.Expect(got).NotTo(Equal(want))
			} else {
				g.Expect(got).To(Equal(want))
			}
		})
	}
}

// TestFingerprintIsStable: the fingerprint of a given spec never changes between
// versions of the runner (it is stored in checkpoints): a changed encoding would report
// every SyncJob's mapping as changed.
func TestFingerprintIsStable(t *testing.T) {
	g := NewWithT(t)
	s := Spec{SourceName: "billing", Key: Key{Field: "ext_id"},
		Fields: []Field{{To: "amount", From: "total", Type: connector.TypeDecimal}}}
	g.Expect(s.Fingerprint()).To(Equal(s.Fingerprint()))
	g.Expect(s.Fingerprint()).To(Equal("m1-be2799c3b3ae8703"))
}
