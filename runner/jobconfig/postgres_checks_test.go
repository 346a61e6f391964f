package jobconfig

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/postgres"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// TestPostgresSinkGetsTheMappedTypes: the sink learns each mapped field's type (a lookup
// writes the found object's id, a string), so that it can refuse a column that can never
// hold it.
func TestPostgresSinkGetsTheMappedTypes(t *testing.T) {
	g := NewWithT(t)
	sj := postgresJob()
	sj.Spec.Mapping = []syncv1.FieldMapping{
		{To: "email", From: "email"},
		{To: "total", From: "total", Type: syncv1.FieldDecimal},
		{To: "seen", From: "seen", Type: syncv1.FieldTimestamp},
		{To: "account", From: "customer_id", Type: syncv1.FieldInt, Lookup: &syncv1.MappingLookup{URL: "http://crm/accounts?b={value}", IDPath: "id"}},
	}
	sj.Default()
	sink, err := postgresSinkConfig(sj.Spec.Sink.Postgres, sj.Spec.Deletes, "ext_id", []string{"email", "total", "seen", "account"}, postgresFieldTypes(sj.Spec.Mapping))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sink.Validate()).To(Succeed())
	g.Expect(sink.FieldTypes).To(Equal(map[string]connector.FieldType{
		"email": connector.TypeString, "total": connector.TypeDecimal, "seen": connector.TypeTimestamp, "account": connector.TypeString,
	}))
}

// The postgres source reports records it cannot stand behind before they are mapped.
var _ connector.RecordChecker = (*postgres.Source)(nil)

// TestGapFieldIsARecordErrorWhereMapped: a zone-less field (not the cursor) whose wall time
// the zone skips reaches the mapping as postgres.NonexistentWallTime, which no mapping type
// takes: the record fails naming the field and the wall time, whatever the type or an
// expression reading it.
func TestGapFieldIsARecordErrorWhereMapped(t *testing.T) {
	gap := postgres.NonexistentWallTime{Wall: "2026-03-29 02:30:00", Zone: "Europe/Berlin"}
	rec := connector.Record{ID: "9", Fields: map[string]any{"seen": gap, "name": "x"}}
	for _, typ := range []syncv1.FieldType{syncv1.FieldString, syncv1.FieldInt, syncv1.FieldDecimal, syncv1.FieldBool, syncv1.FieldTimestamp, syncv1.FieldJSON} {
		for _, fm := range []syncv1.FieldMapping{{To: "seen_at", From: "seen", Type: typ}, {To: "seen_at", Expr: "record.seen", Type: typ}} {
			g := NewWithT(t)
			sj := postgresJob()
			sj.Spec.Key.Field = "ext_id"
			sj.Spec.Mapping = []syncv1.FieldMapping{fm}
			sj.Default()
			m, err := mapping.New(mappingSpec(&sj.Spec))
			g.Expect(err).NotTo(HaveOccurred())
			_, err = m.Map(rec)
			var re *connector.RecordError
			g.Expect(errors.As(err, &re)).To(BeTrue(), "%s %+v: %v", typ, fm, err)
			g.Expect(re.ID).To(Equal("9"))
			g.Expect(re.Field).To(Equal("seen_at"))
			if fm.From != "" {
				g.Expect(err).To(MatchError(ContainSubstring("postgres.NonexistentWallTime 2026-03-29 02:30:00 in Europe/Berlin")))
			}
		}
	}
}
