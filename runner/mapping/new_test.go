package mapping

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
)

func TestNewRefusesBadSpecs(t *testing.T) {
	ok := v1alpha1.FieldMapping{To: "a", From: "a"}
	key := v1alpha1.KeySpec{Field: "ext_id"}
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error, in order
	}{
		{"bad expression names the entry", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{
			ok, {To: "b", From: "b"}, {To: "total_cents", Expr: "record.total *", Type: "int"}}},
			[]string{`mapping[2] (to: total_cents): compile expr "record.total *": `, "Syntax error"}},
		{"undeclared variable", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "x", Expr: "rec.total"}}},
			[]string{`mapping[0] (to: x): compile expr "rec.total"`, "undeclared reference to 'rec'"}},
		{"type that never converts", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "x", Expr: "record.a > 1", Type: "int"}}},
			[]string{`mapping[0] (to: x): expr "record.a > 1" yields bool, which never converts to int`}},
		{"bad key expression", Spec{SourceName: "s", Key: v1alpha1.KeySpec{Field: "ext_id", Expr: `"x" +`}, Fields: []v1alpha1.FieldMapping{ok}},
			[]string{`key (field: ext_id): compile expr "\"x\" +"`}},
		{"key expression not a string", Spec{SourceName: "s", Key: v1alpha1.KeySpec{Field: "ext_id", Expr: `1 + 2`}, Fields: []v1alpha1.FieldMapping{ok}},
			[]string{`key (field: ext_id): expr "1 + 2" yields int, not string`}},
		{"both from and expr", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{ok, {To: "b", From: "b", Expr: "record.b"}}},
			[]string{"mapping[1] (to: b): set exactly one of from or expr"}},
		{"neither from nor expr", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "b"}}},
			[]string{"mapping[0] (to: b): set exactly one of from or expr"}},
		{"duplicate target", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{ok, {To: "b", From: "b"}, {To: "a", From: "c"}}},
			[]string{"mapping[2] (to: a): duplicate target (also mapping[0])"}},
		{"target is the key field", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "ext_id", From: "id"}}},
			[]string{"mapping[0] (to: ext_id): target is the key field"}},
		{"unknown type", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "a", From: "a", Type: "float"}}},
			[]string{`mapping[0] (to: a): unknown type "float"`}},
		{"empty path segment", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{To: "a", From: "customer..id"}}},
			[]string{`mapping[0] (to: a): path "customer..id" has an empty segment`}},
		{"empty target", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{{From: "a"}}},
			[]string{"mapping[0] (to: ): target (to) is empty"}},
		{"no key field", Spec{SourceName: "s", Fields: []v1alpha1.FieldMapping{ok}}, []string{"key.field is empty"}},
		{"no mapping", Spec{SourceName: "s", Key: key}, []string{"mapping is empty"}},
		{"no source name for the default key", Spec{Key: key, Fields: []v1alpha1.FieldMapping{ok}},
			[]string{"key (field: ext_id): no expr and no source name"}},
		{"bad deleted field", Spec{SourceName: "s", Key: key, Fields: []v1alpha1.FieldMapping{ok}, DeletedField: "a."},
			[]string{"deletes.sourceField: path \"a.\" has an empty segment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(tt.spec)
			g.Expect(m).To(BeNil())
			g.Expect(err).To(HaveOccurred())
			rest := err.Error()
			for _, w := range tt.want {
				g.Expect(rest).To(ContainSubstring(w))
				_, rest, _ = strings.Cut(rest, w)
			}
		})
	}
}

// A key without an expression needs no source name when an expression is given.
func TestNewAcceptsCustomKeyWithoutSourceName(t *testing.T) {
	g := NewWithT(t)
	m, err := New(Spec{Key: v1alpha1.KeySpec{Field: "k", Expr: "record.id"}, Fields: []v1alpha1.FieldMapping{{To: "a", From: "a"}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Fields()).To(Equal([]string{"a"}))
}
