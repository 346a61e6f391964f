package mapping

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func TestKeys(t *testing.T) {
	fields := map[string]any{"id": int64(10492), "region": "eu", "num": int64(5), "blank": ""}
	tests := []struct {
		name       string
		source     string
		expr       string
		recID      string
		want       string
		wantReason string
	}{
		{"default key", "billing", "", "10492", "billing:10492", ""},
		{"default key with a source kind", "postgres", "", "10492", "postgres:10492", ""},
		{"spelled-out default", "billing", `"billing:" + string(record.id)`, "10492", "billing:10492", ""},
		{"custom key", "billing", `record.region + "/" + string(record.id)`, "10492", "eu/10492", ""},
		{"default key without record id", "billing", "", "", "", ReasonKeyEmpty},
		{"key not a string", "billing", `record.num`, "10492", "", ReasonKeyNotString},
		{"key null", "billing", `record.?nope`, "10492", "", ReasonKeyNotString},
		{"key empty", "billing", `record.blank`, "10492", "", ReasonKeyEmpty},
		{"key expression fails", "billing", `record.nope + "x"`, "10492", "", ReasonExpression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			m, err := New(Spec{SourceName: tt.source, Key: Key{Field: "ext_id", Expr: tt.expr},
				Fields: []Field{{To: "region", From: "region", Type: connector.TypeString}}})
			g.Expect(err).NotTo(HaveOccurred())
			w, err := m.Map(connector.Record{ID: tt.recID, UpdatedAt: updated, Fields: fields})
			if tt.wantReason != "" {
				re := recordErr(g, err)
				g.Expect(re.ID).To(Equal(tt.recID))
				g.Expect(re.Field).To(Equal("ext_id"))
				g.Expect(re.Reason).To(Equal(tt.wantReason))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(w.Key).To(Equal(tt.want))
			g.Expect(w.Values).NotTo(HaveKey("ext_id"))
		})
	}
}
