package jobconfig

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/cursor"
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

// checkingSource is a source that finds one record unusable as read.
type checkingSource struct{ bad string }

func (checkingSource) ReadPage(context.Context, cursor.Cursor, int) (connector.Page, error) {
	return connector.Page{}, nil
}
func (checkingSource) CompareIDs(a, b string) int { return 0 }
func (checkingSource) Close() error               { return nil }
func (s checkingSource) RecordError(rec connector.Record) error {
	if rec.ID == s.bad {
		return &connector.RecordError{ID: rec.ID, Field: "modified", Reason: "wall time does not exist in time zone"}
	}
	return nil
}

type countingMapper struct{ calls *int }

func (m countingMapper) Map(rec connector.Record) (connector.WriteRecord, error) {
	*m.calls++
	return connector.WriteRecord{Key: rec.ID, SourceID: rec.ID}, nil
}

// TestSourceRecordErrorsFailTheRecord: a record the source reports unusable (a postgres
// cursor wall time its zone skips) is a record error of the run, as a mapping failure is;
// the other records map as before.
func TestSourceRecordErrorsFailTheRecord(t *testing.T) {
	g := NewWithT(t)
	calls := 0
	m := withSourceChecks(countingMapper{&calls}, checkingSource{bad: "7"})
	_, err := m.Map(connector.Record{ID: "7"})
	var re *connector.RecordError
	g.Expect(errors.As(err, &re)).To(BeTrue())
	g.Expect(re.ID).To(Equal("7"))
	g.Expect(re.Field).To(Equal("modified"))
	g.Expect(calls).To(BeZero())
	w, err := m.Map(connector.Record{ID: "8"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Key).To(Equal("8"))

	// A source without record checks keeps the mapper as it is.
	plain := countingMapper{&calls}
	g.Expect(withSourceChecks(plain, struct{ connector.Source }{})).To(Equal(plain))

	// The postgres source is such a source.
	var _ recordChecker = (*postgres.Source)(nil)
}

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
