package mapping

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestMapFillsWriteRecord(t *testing.T) {
	g := NewWithT(t)
	m := mustNew(g,
		Field{To: "number", From: "number", Type: connector.TypeString},
		Field{To: "total", From: "total", Type: "decimal"},
	)
	g.Expect(m.Fields()).To(Equal([]string{"number", "total"}))
	g.Expect(m.KeyField()).To(Equal("ext_id"))

	fields := map[string]any{"number": "INV-1", "total": connector.Decimal("9.90")}
	w, err := m.Map(record(fields))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w).To(Equal(connector.WriteRecord{
		Key:             "billing:inv_1",
		SourceID:        "inv_1",
		SourceUpdatedAt: updated,
		Values:          map[string]any{"number": "INV-1", "total": connector.Decimal("9.90")},
	}))
	g.Expect(fields).To(HaveLen(2), "the source record is not modified")
}

func TestRequiredMissingAndNull(t *testing.T) {
	tests := []struct {
		name     string
		required bool
		fields   map[string]any
		wantErr  bool
	}{
		{"present", true, map[string]any{"email": "a@b.c"}, false},
		{"required and missing", true, map[string]any{}, true},
		{"required and null", true, map[string]any{"email": nil}, true},
		{"optional and missing", false, map[string]any{}, false},
		{"optional and null", false, map[string]any{"email": nil}, false},
		{"required and parent missing", true, map[string]any{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m := mustNew(g, Field{To: "mail", From: "email", Required: tt.required, Type: connector.TypeString})
			w, err := m.Map(record(tt.fields))
			if tt.wantErr {
				re := recordErr(g, err)
				g.Expect(*re).To(Equal(connector.RecordError{ID: "inv_1", Field: "mail", Reason: ReasonRequired}))
				g.Expect(err.Error()).To(Equal("record inv_1 field mail: required field missing"))
				g.Expect(w).To(BeZero(), "a record that does not map yields nothing to write")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Values).To(HaveKey("mail"), "every mapped field is present, null or not")
			g.Expect(w.Values["mail"]).To(equalOrNil(tt.fields["email"]))
		})
	}
}

func TestRequiredExpressionYieldingNull(t *testing.T) {
	g := NewWithT(t)
	m := mustNew(g, Field{To: "x", Expr: `has(record.x) ? record.x : null`, Required: true, Type: connector.TypeString})
	_, err := m.Map(record(map[string]any{}))
	g.Expect(recordErr(g, err).Reason).To(Equal(ReasonRequired))
}

func TestNestedPaths(t *testing.T) {
	fields := map[string]any{
		"customer": map[string]any{"id": int64(42), "address": map[string]any{"city": "Ghent"}, "tags": nil},
		"items":    []any{map[string]any{"sku": "A-1"}},
		"payload":  connector.JSON(`{"meta": {"source": "web", "score": 0.25}}`),
		"name":     "plain",
	}
	tests := []struct {
		path       string
		typ        connector.FieldType
		want       any
		wantReason string
	}{
		{"customer.id", "int", int64(42), ""},
		{"customer.address.city", "string", "Ghent", ""},
		{"customer.address.zip", "string", nil, ""},
		{"customer.tags.first", "string", nil, ""},
		{"nope.deeper", "string", nil, ""},
		{"items.0.sku", "string", "A-1", ""},
		{"items.5.sku", "string", nil, ""},
		{"payload.meta.source", "string", "web", ""},
		{"payload.meta.score", "decimal", connector.Decimal("0.25"), ""},
		{"id", "string", "inv_1", ""}, // the record id when the fields have none
		{"name.first", "string", nil, ReasonNotObject},
		{"items.x", "string", nil, ReasonNotObject},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			g := NewWithT(t)
			m := mustNew(g, Field{To: "out", From: tt.path, Type: tt.typ})
			w, err := m.Map(record(fields))
			if tt.wantReason != "" {
				re := recordErr(g, err)
				g.Expect(re.Reason).To(Equal(tt.wantReason))
				g.Expect(re.Field).To(Equal("out"))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Values["out"]).To(equalOrNil(tt.want))
		})
	}
}

func TestDeletedMarker(t *testing.T) {
	tests := []struct {
		name   string
		marker any
		set    bool
		want   bool
	}{
		{"timestamp marks deleted", updated, true, true},
		{"true marks deleted", true, true, true},
		{"false does not", false, true, false},
		{"null does not", nil, true, false},
		{"absent does not", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id"}, DeletedField: "deleted_at",
				Fields: []Field{{To: "email", From: "email", Required: true, Type: connector.TypeString}}})
			g.Expect(err).NotTo(HaveOccurred())
			fields := map[string]any{"email": "a@b.c"}
			if tt.set {
				fields["deleted_at"] = tt.marker
			}
			w, err := m.Map(record(fields))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Deleted).To(Equal(tt.want))
		})
	}
}

// A tombstone carries little more than its id: required checks are waived, conversions
// are not.
func TestDeletedRecordWaivesRequired(t *testing.T) {
	g := NewWithT(t)
	m, err := New(Spec{SourceName: "billing", Key: Key{Field: "ext_id"}, DeletedField: "deleted_at",
		Fields: []Field{{To: "email", From: "email", Required: true, Type: connector.TypeString}, {To: "n", From: "n", Type: "int"}}})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := m.Map(record(map[string]any{"deleted_at": updated}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Deleted).To(BeTrue())
	g.Expect(w.Key).To(Equal("billing:inv_1"))
	g.Expect(w.Values).To(Equal(map[string]any{"email": nil, "n": nil}))

	_, err = m.Map(record(map[string]any{"deleted_at": updated, "n": "abc"}))
	g.Expect(recordErr(g, err).Reason).To(Equal(ReasonNotInt))
}

// Map holds no per-record state: goroutines may share a Mapping.
func TestConcurrentUse(t *testing.T) {
	g := NewWithT(t)
	m := mustNew(g,
		Field{To: "a", Expr: `record.n * 2`, Type: "int"},
		Field{To: "b", From: "n", Type: "string"},
	)
	const workers, each = 4, 200
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				n := int64(w*each + i)
				out, err := m.Map(connector.Record{ID: "x", Fields: map[string]any{"n": n}})
				if err == nil && (out.Values["a"] != 2*n) {
					err = &connector.RecordError{ID: "x", Reason: "wrong value"}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		g.Expect(<-errs).NotTo(HaveOccurred())
	}
}

// TestKeyForID: the key of an id alone, for the default key and an expression on
// record.id; an expression reading another field gives none.
func TestKeyForID(t *testing.T) {
	g := NewWithT(t)
	m, err := New(Spec{SourceName: "billing", Key: Key{Field: "k"}, Fields: []Field{{To: "status", From: "status", Type: connector.TypeString}}})
	g.Expect(err).NotTo(HaveOccurred())
	k, ok := m.KeyForID("7")
	g.Expect(ok).To(BeTrue())
	g.Expect(k).To(Equal("billing:7"))
	m, err = New(Spec{SourceName: "billing", Key: Key{Field: "k", Expr: `"inv_" + string(record.id)`}, Fields: []Field{{To: "status", From: "status", Type: connector.TypeString}}})
	g.Expect(err).NotTo(HaveOccurred())
	k, ok = m.KeyForID("7")
	g.Expect(ok).To(BeTrue())
	g.Expect(k).To(Equal("inv_7"))
	m, err = New(Spec{SourceName: "billing", Key: Key{Field: "k", Expr: `string(record.number)`}, Fields: []Field{{To: "status", From: "status", Type: connector.TypeString}}})
	g.Expect(err).NotTo(HaveOccurred())
	_, ok = m.KeyForID("7")
	g.Expect(ok).To(BeFalse())
}
