package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector/postgres"
)

// postgresJob is a SyncJob from postgres to postgres that sets only required fields.
func postgresJob() *syncv1.SyncJob {
	sj := &syncv1.SyncJob{}
	sj.Spec.Source.Postgres = &syncv1.PostgresSource{Table: "billing.invoices"}
	sj.Spec.Sink.Postgres = &syncv1.PostgresSink{Table: "crm.invoices"}
	return sj
}

// TestPostgresConfigsOfDefaultedJob: the API's defaults are all the connector needs; the
// translation adds none of its own and carries every field over.
func TestPostgresConfigsOfDefaultedJob(t *testing.T) {
	g := NewWithT(t)
	sj := postgresJob()
	sj.Default()
	src := postgresSourceConfig(sj.Spec.Source.Postgres)
	g.Expect(src.Validate()).To(Succeed())
	g.Expect(src).To(Equal(postgres.SourceConfig{Table: "billing.invoices", UpdatedAtColumn: "updated_at", IDColumn: "id"}))

	sink, err := postgresSinkConfig(sj.Spec.Sink.Postgres, sj.Spec.Deletes, "ext_id", []string{"email"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sink.Validate()).To(Succeed())
	g.Expect(sink).To(Equal(postgres.SinkConfig{
		Table: "crm.invoices", KeyColumn: "ext_id", Fields: []string{"email"},
		SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000,
		DeleteMode: postgres.DeleteIgnore, DeleteColumn: "deleted_at",
	}))

	// Every field set in the spec reaches the config.
	sj.Spec.Source.Postgres = &syncv1.PostgresSource{Table: "t", UpdatedAtColumn: "m", IDColumn: "uid", TimeZone: "Europe/Paris"}
	g.Expect(postgresSourceConfig(sj.Spec.Source.Postgres)).To(Equal(postgres.SourceConfig{Table: "t", UpdatedAtColumn: "m", IDColumn: "uid", TimeZone: "Europe/Paris"}))
	sj.Spec.Sink.Postgres = &syncv1.PostgresSink{Table: "s", SourceUpdatedAtColumn: "sua", SyncedAtColumn: "synced", RunIDColumn: "run", CopyThreshold: 7}
	sink, err = postgresSinkConfig(sj.Spec.Sink.Postgres, syncv1.DeletesSpec{Mode: "SoftDelete", SinkField: "gone"}, "k", nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sink).To(Equal(postgres.SinkConfig{
		Table: "s", KeyColumn: "k", SourceUpdatedAtColumn: "sua", SyncedAtColumn: "synced", RunIDColumn: "run",
		CopyThreshold: 7, DeleteMode: postgres.DeleteSoft, DeleteColumn: "gone",
	}))
}

// TestPostgresConfigsOfUndefaultedJob: without the API's defaults the configs do not
// validate, naming the field, rather than falling back to a second copy of the defaults.
func TestPostgresConfigsOfUndefaultedJob(t *testing.T) {
	g := NewWithT(t)
	sj := postgresJob()
	g.Expect(postgresSourceConfig(sj.Spec.Source.Postgres).Validate()).To(MatchError(ContainSubstring("spec.source.postgres.updatedAtColumn")))
	_, err := postgresSinkConfig(sj.Spec.Sink.Postgres, sj.Spec.Deletes, "ext_id", nil, nil)
	g.Expect(err).To(MatchError(ContainSubstring(`spec.deletes.mode ""`)))
	sink, err := postgresSinkConfig(sj.Spec.Sink.Postgres, syncv1.DeletesSpec{Mode: "Ignore"}, "ext_id", nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sink.Validate()).To(MatchError(ContainSubstring("spec.sink.postgres.sourceUpdatedAtColumn")))
}

func TestPostgresDeleteModes(t *testing.T) {
	g := NewWithT(t)
	for api, want := range map[string]postgres.DeleteMode{"Ignore": postgres.DeleteIgnore, "SoftDelete": postgres.DeleteSoft, "Delete": postgres.DeleteHard} {
		got, err := postgresDeleteMode(api)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(want))
	}
	_, err := postgresDeleteMode("Purge")
	g.Expect(err).To(MatchError(ContainSubstring(`spec.deletes.mode "Purge"`)))
}
