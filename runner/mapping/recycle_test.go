package mapping

import (
	"fmt"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestRecycledValuesMapLikeNewOnes: records mapped into Values maps handed back
// (RecycleValues) get exactly what a mapping without recycling gives them — nothing left
// of the record the map held before, nulls kept, failures alike — and the maps are reused;
// RecycleValues takes the maps (Values nil).
func TestRecycledValuesMapLikeNewOnes(t *testing.T) {
	g := NewWithT(t)
	spec := Spec{SourceName: "billing", Key: Key{Field: "ext_id", Expr: "string(record.id)"}, Fields: []Field{
		{To: "status", From: "status", Type: connector.TypeString, Required: true},
		{To: "total", From: "total", Type: connector.TypeDecimal},
		{To: "note", From: "note", Type: connector.TypeString},
		{To: "is_paid", Expr: `record.status == "paid"`, Type: connector.TypeBool},
	}}
	recycling, err := New(spec)
	g.Expect(err).NotTo(HaveOccurred())
	fresh, err := New(spec)
	g.Expect(err).NotTo(HaveOccurred())
	record := func(i int) connector.Record {
		f := map[string]any{"id": fmt.Sprintf("inv_%03d", i), "status": []string{"paid", "open", "void"}[i%3],
			"total": connector.Decimal(fmt.Sprintf("%d.50", i)), "note": fmt.Sprintf("n%d", i)}
		switch i % 5 {
		case 1:
			f["note"], f["total"] = nil, nil
		case 2:
			delete(f, "note")
		case 3:
			f["total"] = "abc" // not a decimal: a record error
		case 4:
			delete(f, "status") // required: a record error
		}
		return connector.Record{ID: fmt.Sprint(i), Fields: f}
	}
	handed := map[uintptr]bool{}
	reused := 0
	for round := 0; round < 4; round++ {
		var written []connector.WriteRecord
		for i := round * 25; i < round*25+25; i++ {
			got, gotErr := recycling.Map(record(i))
			want, wantErr := fresh.Map(record(i))
			g.Expect(got).To(Equal(want), "record %d", i)
			g.Expect(fmt.Sprint(gotErr)).To(Equal(fmt.Sprint(wantErr)), "record %d", i)
			if gotErr == nil {
				if handed[reflect.ValueOf(got.Values).Pointer()] {
					reused++
				}
				written = append(written, got)
			}
		}
		handed = map[uintptr]bool{}
		for _, w := range written {
			handed[reflect.ValueOf(w.Values).Pointer()] = true
		}
		recycling.RecycleValues(written)
		g.Expect(written).To(HaveEach(HaveField("Values", BeNil())))
	}
	g.Expect(reused).To(BeNumerically(">=", 20), "maps handed back were reused")
}
