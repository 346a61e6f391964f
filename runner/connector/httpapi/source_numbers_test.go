package httpapi

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// TestJSONNumbersMapExactly: amounts and counts an API sends as JSON numbers map to int,
// decimal and string exactly as the API wrote them (no float on the way: 9007199254740993
// is not 9007199254740992), and a number that does not fit is a record error naming it.
func TestJSONNumbersMapExactly(t *testing.T) {
	g := NewWithT(t)
	body := `{"data":[
		{"id": "inv_1", "updated_at": "2026-06-30T23:55:07Z", "count": 9007199254740993, "total": 12.345},
		{"id": "inv_2", "updated_at": "2026-06-30T23:55:08Z", "count": 12.5, "total": 1}]}`
	src := bodySource(t, SourceConfig{RecordsPath: "data"}, body, nil)
	recs, err := readSorted(t, src, cursor.Cursor{}, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recs).To(HaveLen(2))

	m, err := mapping.New(mapping.Spec{SourceName: "billing", Key: mapping.Key{Field: "ext_id"}, Fields: []mapping.Field{
		{To: "count", From: "count", Type: connector.TypeInt},
		{To: "total", From: "total", Type: connector.TypeDecimal},
		{To: "count_text", From: "count", Type: connector.TypeString},
	}})
	g.Expect(err).NotTo(HaveOccurred())

	w, err := m.Map(recs[0])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Values).To(Equal(map[string]any{
		"count":      int64(9007199254740993),
		"total":      connector.Decimal("12.345"),
		"count_text": "9007199254740993",
	}))

	_, err = m.Map(recs[1])
	g.Expect(err).To(MatchError("record inv_2 field count: not an int: the number 12.5 is not an integer"))
}
