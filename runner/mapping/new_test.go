package mapping

import (
	"strings"
	"testing"

	"github.com/checkpointed/checkpointed/runner/connector"

	. "github.com/onsi/gomega"
)

func TestNewRefusesBadSpecs(t *testing.T) {
	ok := Field{To: "a", From: "a", Type: connector.TypeString}
	key := Key{Field: "ext_id"}
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error, in order
	}{
		{"bad expression names the entry", Spec{SourceName: "s", Key: key, Fields: []Field{
			ok, {To: "b", From: "b", Type: connector.TypeString}, {To: "total_cents", Expr: "record.total *", Type: "int"}}},
			[]string{`mapping[2] (to: total_cents): compile expr "record.total *": `, "Syntax error"}},
		{"undeclared variable", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "x", Expr: "rec.total", Type: connector.TypeString}}},
			[]string{`mapping[0] (to: x): compile expr "rec.total"`, "undeclared reference to 'rec'"}},
		{"type that never converts", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "x", Expr: "record.a > 1", Type: "int"}}},
			[]string{`mapping[0] (to: x): expr "record.a > 1" yields bool, which never converts to int`}},
		{"bad key expression", Spec{SourceName: "s", Key: Key{Field: "ext_id", Expr: `"x" +`}, Fields: []Field{ok}},
			[]string{`key (field: ext_id): compile expr "\"x\" +"`}},
		{"key expression not a string", Spec{SourceName: "s", Key: Key{Field: "ext_id", Expr: `1 + 2`}, Fields: []Field{ok}},
			[]string{`key (field: ext_id): expr "1 + 2" yields int, not string`}},
		{"both from and expr", Spec{SourceName: "s", Key: key, Fields: []Field{ok, {To: "b", From: "b", Expr: "record.b", Type: connector.TypeString}}},
			[]string{"mapping[1] (to: b): set exactly one of from or expr"}},
		{"neither from nor expr", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "b", Type: connector.TypeString}}},
			[]string{"mapping[0] (to: b): set exactly one of from or expr"}},
		{"duplicate target", Spec{SourceName: "s", Key: key, Fields: []Field{ok, {To: "b", From: "b", Type: connector.TypeString}, {To: "a", From: "c", Type: connector.TypeString}}},
			[]string{"mapping[2] (to: a): duplicate target (also mapping[0])"}},
		{"target is the key field", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "ext_id", From: "id", Type: connector.TypeString}}},
			[]string{"mapping[0] (to: ext_id): target is the key field"}},
		{"empty type (the API defaults it; the mapping does not)", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "a", From: "a"}}},
			[]string{"mapping[0] (to: a): type is empty"}},
		{"unknown type", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "a", From: "a", Type: "float"}}},
			[]string{`mapping[0] (to: a): unknown type "float"`}},
		{"empty path segment", Spec{SourceName: "s", Key: key, Fields: []Field{{To: "a", From: "customer..id", Type: connector.TypeString}}},
			[]string{`mapping[0] (to: a): path "customer..id" has an empty segment`}},
		{"empty target", Spec{SourceName: "s", Key: key, Fields: []Field{{From: "a", Type: connector.TypeString}}},
			[]string{"mapping[0] (to: ): target (to) is empty"}},
		{"no key field", Spec{SourceName: "s", Fields: []Field{ok}}, []string{"key.field is empty"}},
		{"no mapping", Spec{SourceName: "s", Key: key}, []string{"mapping is empty"}},
		{"no source name for the default key", Spec{Key: key, Fields: []Field{ok}},
			[]string{"key (field: ext_id): no expr and no source name"}},
		{"bad deleted field", Spec{SourceName: "s", Key: key, Fields: []Field{ok}, DeletedField: "a."},
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
	m, err := New(Spec{Key: Key{Field: "k", Expr: "record.id"}, Fields: []Field{{To: "a", From: "a", Type: connector.TypeString}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Fields()).To(Equal([]string{"a"}))
}
