package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

func TestMappingSpec(t *testing.T) {
	entries := []syncv1.FieldMapping{
		{To: "a", From: "a", Type: syncv1.FieldString},
		{To: "b", Expr: "record.b * 2", Type: syncv1.FieldDecimal, Required: true},
		{To: "account_id", From: "customer_id", Type: syncv1.FieldString,
			Lookup: &syncv1.MappingLookup{URL: "https://crm/accounts?c={value}", ResultsPath: "results", IDPath: "id"}},
	}
	fields := []mapping.Field{
		{To: "a", From: "a", Type: connector.TypeString},
		{To: "b", Expr: "record.b * 2", Type: connector.TypeDecimal, Required: true},
		{To: "account_id", From: "customer_id", Type: connector.TypeString,
			Lookup: &connector.Lookup{URL: "https://crm/accounts?c={value}", ResultsPath: "results", IDPath: "id"}},
	}
	key := syncv1.KeySpec{Field: "ext_id", Expr: `"x:" + record.id`}
	tests := []struct {
		name    string
		source  syncv1.SourceSpec
		deletes syncv1.DeletesSpec
		want    mapping.Spec
	}{
		{"named source, soft deletes", syncv1.SourceSpec{Name: "crm", Postgres: &syncv1.PostgresSource{}},
			syncv1.DeletesSpec{Mode: "SoftDelete", SourceField: "deleted_at"},
			mapping.Spec{SourceName: "crm", DeletedField: "deleted_at"}},
		{"unnamed http source, deletes", syncv1.SourceSpec{HTTP: &syncv1.HTTPSource{}},
			syncv1.DeletesSpec{Mode: "Delete", SourceField: "gone"},
			mapping.Spec{SourceName: "http", DeletedField: "gone"}},
		{"unnamed postgres source, deletes ignored", syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{}},
			syncv1.DeletesSpec{Mode: "Ignore", SourceField: "deleted_at"},
			mapping.Spec{SourceName: "postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := &syncv1.SyncJobSpec{Source: tt.source, Key: key, Mapping: entries, Deletes: tt.deletes}
			want := tt.want
			want.Key = mapping.Key{Field: "ext_id", Expr: `"x:" + record.id`}
			want.Fields = fields
			g.Expect(mappingSpec(s)).To(Equal(want))
		})
	}
}

// A SyncJob without explicit types maps as strings: the API's default, not the mapping's.
func TestMappingSpecOfDefaultedJobHasTypes(t *testing.T) {
	g := NewWithT(t)
	sj := &syncv1.SyncJob{Spec: syncv1.SyncJobSpec{
		Source:  syncv1.SourceSpec{Postgres: &syncv1.PostgresSource{}},
		Key:     syncv1.KeySpec{Field: "ext_id"},
		Mapping: []syncv1.FieldMapping{{To: "a", From: "a"}, {To: "n", From: "n", Type: syncv1.FieldInt}},
	}}
	sj.Default()
	spec := mappingSpec(&sj.Spec)
	g.Expect(spec.Fields).To(Equal([]mapping.Field{
		{To: "a", From: "a", Type: connector.TypeString},
		{To: "n", From: "n", Type: connector.TypeInt},
	}))
	_, err := mapping.New(spec)
	g.Expect(err).NotTo(HaveOccurred())
}

// Every field type the API admits is a type the mapping knows.
func TestMappingSpecKnowsEveryFieldType(t *testing.T) {
	for _, typ := range []syncv1.FieldType{syncv1.FieldString, syncv1.FieldInt, syncv1.FieldDecimal,
		syncv1.FieldBool, syncv1.FieldTimestamp, syncv1.FieldJSON} {
		s := &syncv1.SyncJobSpec{Source: syncv1.SourceSpec{Name: "s"}, Key: syncv1.KeySpec{Field: "k"},
			Mapping: []syncv1.FieldMapping{{To: "v", From: "v", Type: typ}}}
		_, err := mapping.New(mappingSpec(s))
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), string(typ))
	}
}
