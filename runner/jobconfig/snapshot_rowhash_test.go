package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestSnapshotRowHashFingerprint: a Snapshot job hashes source records under a fingerprint
// that changes with the mapping, the key, the deleted marker and the source's table, id
// column and time zone; an Incremental job, and a mapping with a lookup (its values depend
// on the sink), hash nothing before mapping.
func TestSnapshotRowHashFingerprint(t *testing.T) {
	g := NewWithT(t)
	job := func(mutate func(*syncv1.SyncJobSpec)) *syncv1.SyncJobSpec {
		sj := postgresJob()
		sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
		sj.Spec.Key.Field = "ext_id"
		sj.Spec.Mapping = []syncv1.FieldMapping{{To: "email", From: "email", Type: "string"}}
		if mutate != nil {
			mutate(&sj.Spec)
		}
		sj.Default()
		return &sj.Spec
	}
	fp := func(s *syncv1.SyncJobSpec) string { return snapshotRowHash(s, mappingSpec(s)) }
	base := fp(job(nil))
	g.Expect(base).NotTo(BeEmpty())
	g.Expect(fp(job(nil))).To(Equal(base), "the same job, the same fingerprint")

	for name, mutate := range map[string]func(*syncv1.SyncJobSpec){
		"a mapping entry's required": func(s *syncv1.SyncJobSpec) { s.Mapping[0].Required = true },
		"a mapping entry's type":     func(s *syncv1.SyncJobSpec) { s.Mapping[0].Type = "json" },
		"a new mapping entry": func(s *syncv1.SyncJobSpec) {
			s.Mapping = append(s.Mapping, syncv1.FieldMapping{To: "extra", Expr: `"x"`, Type: "string"})
		},
		"the key":                              func(s *syncv1.SyncJobSpec) { s.Key.Expr = `"k-" + string(record.id)` },
		"the source name (default key prefix)": func(s *syncv1.SyncJobSpec) { s.Source.Name = "other" },
		"the deleted marker": func(s *syncv1.SyncJobSpec) {
			s.Deletes.Mode, s.Deletes.SourceField = "SoftDelete", "deleted_at"
		},
		"the source table":     func(s *syncv1.SyncJobSpec) { s.Source.Postgres.Table = "billing.other" },
		"the id column":        func(s *syncv1.SyncJobSpec) { s.Source.Postgres.IDColumn = "invoice_no" },
		"the source time zone": func(s *syncv1.SyncJobSpec) { s.Source.Postgres.TimeZone = "Europe/Berlin" },
	} {
		g.Expect(fp(job(mutate))).NotTo(Equal(base), name)
	}

	inc := postgresJob()
	inc.Spec.Mapping = []syncv1.FieldMapping{{To: "email", From: "email", Type: "string"}}
	inc.Default()
	g.Expect(fp(&inc.Spec)).To(BeEmpty(), "Incremental mode")
	lookup := job(func(s *syncv1.SyncJobSpec) {
		s.Mapping[0].Lookup = &syncv1.MappingLookup{URL: "http://crm.example/find?q={value}", ResultsPath: "results", IDPath: "id"}
	})
	g.Expect(fp(lookup)).To(BeEmpty(), "a lookup's value depends on the sink")
}
