package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector/postgres"
)

// TestSnapshotModeConfigs: spec.cursor.mode Snapshot makes the postgres source read only
// by id (the defaulted updatedAtColumn is not used) and the postgres sink store content
// hashes in the defaulted hashColumn, with no source version (no stale guard).
func TestSnapshotModeConfigs(t *testing.T) {
	g := NewWithT(t)
	sj := postgresJob()
	sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
	sj.Default()
	g.Expect(snapshot(&sj.Spec)).To(BeTrue())
	g.Expect(checkMode(&sj.Spec)).To(Succeed())

	src := snapshotSourceConfig(postgresSourceConfig(sj.Spec.Source.Postgres))
	g.Expect(src.Validate()).To(Succeed())
	g.Expect(src).To(Equal(postgres.SourceConfig{Table: "billing.invoices", IDColumn: "id", ScanOnly: true}))

	sink, err := postgresSinkConfig(sj.Spec.Sink.Postgres, sj.Spec.Deletes, "ext_id", []string{"email"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	sink = snapshotSinkConfig(sink, sj.Spec.Sink.Postgres)
	g.Expect(sink.Validate()).To(Succeed())
	g.Expect(sink).To(Equal(postgres.SinkConfig{
		Table: "crm.invoices", KeyColumn: "ext_id", Fields: []string{"email"}, CopyThreshold: 1000,
		DeleteMode: postgres.DeleteIgnore, DeleteColumn: "deleted_at",
		Unversioned: true, HashColumn: "_checkpointed_hash",
	}))

	// The default mode is Incremental: today's behaviour.
	inc := postgresJob()
	inc.Default()
	g.Expect(inc.Spec.Cursor.Mode).To(Equal(syncv1.CursorIncremental))
	g.Expect(snapshot(&inc.Spec)).To(BeFalse())
	g.Expect(checkMode(&inc.Spec)).To(Succeed())
}

// TestSnapshotModeRefusals: Snapshot with an HTTP source or sink, and an unknown or
// missing mode, are refused naming the field, both by the runner and by local validation.
func TestSnapshotModeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*syncv1.SyncJob)
		want   string
	}{
		{"http source", func(sj *syncv1.SyncJob) {
			sj.Spec.Source.Postgres = nil
			sj.Spec.Source.HTTP = &syncv1.HTTPSource{URL: "http://billing.example/invoices"}
		}, "spec.cursor.mode Snapshot needs a postgres source"},
		{"http sink", func(sj *syncv1.SyncJob) {
			sj.Spec.Sink.Postgres = nil
			sj.Spec.Sink.HTTP = &syncv1.HTTPSink{Mode: "Upsert", URL: "http://crm.example/invoices/{key}"}
		}, "spec.cursor.mode Snapshot needs a postgres sink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := postgresJob()
			sj.Name = "snap"
			sj.Spec.Cursor.Mode = syncv1.CursorSnapshot
			tc.mutate(sj)
			sj.Default()
			g.Expect(checkMode(&sj.Spec)).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(sj.Validate()).To(MatchError(ContainSubstring("spec.cursor.mode Snapshot needs a postgres source and a postgres sink")))
		})
	}
	g := NewWithT(t)
	sj := postgresJob()
	g.Expect(checkMode(&sj.Spec)).To(MatchError(ContainSubstring(`spec.cursor.mode ""`)), "an undefaulted mode is not guessed")
	sj.Spec.Cursor.Mode = "Full"
	g.Expect(checkMode(&sj.Spec)).To(MatchError(ContainSubstring(`spec.cursor.mode "Full"`)))
}
