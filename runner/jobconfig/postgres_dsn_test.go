package jobconfig

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestEmptyPostgresHostNamesTheSecret: a DSN whose host is empty is a setup error naming
// the field and the Secret key it came from, before any connection: nothing falls back to
// libpq's defaults or a unix socket.
func TestEmptyPostgresHostNamesTheSecret(t *testing.T) {
	for _, tc := range []struct{ name, dsn string }{
		{"empty host", "host='' user=postgres dbname=billing"},
		{"empty host list element", "postgres://postgres@db.example,/billing"},
		{"empty query host", "postgres://postgres@/billing?host="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			sj := postgresJob()
			sj.Spec.Source.Postgres.DSN = syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}
			sj.Spec.Sink.Postgres.DSN = syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}
			sj.Spec.Key.Field = "ext_id"
			sj.Spec.Mapping = []syncv1.FieldMapping{{To: "email", From: "email"}}
			sj.Default()
			t.Setenv("BILLING_DB_DSN", tc.dsn)
			t.Setenv("CRM_DB_DSN", "host=crm.example user=postgres dbname=crm")
			_, _, err := Build(context.Background(), logr.Discard(), sj, "run-1", "Manual")
			g.Expect(err).To(MatchError(ContainSubstring(`spec.source.postgres.dsn: secret "billing-db" key "dsn"`)))
			g.Expect(err).To(MatchError(ContainSubstring("host")))
			g.Expect(err).To(MatchError(ContainSubstring("empty")))
		})
	}
}

// TestUnparseablePostgresDSNNamesTheSecret: any DSN that cannot configure a connection is
// refused before connecting, naming the Secret key and never the password.
func TestUnparseablePostgresDSNNamesTheSecret(t *testing.T) {
	g := NewWithT(t)
	sj := postgresJob()
	sj.Spec.Source.Postgres.DSN = syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"}
	sj.Spec.Sink.Postgres.DSN = syncv1.SecretKeyRef{Name: "crm-db", Key: "dsn"}
	sj.Spec.Key.Field = "ext_id"
	sj.Spec.Mapping = []syncv1.FieldMapping{{To: "email", From: "email"}}
	sj.Default()
	t.Setenv("BILLING_DB_DSN", "postgres://alice:hunter2-secret@127.0.0.1:notaport/billing")
	_, _, err := Build(context.Background(), logr.Discard(), sj, "run-1", "Manual")
	g.Expect(err).To(MatchError(ContainSubstring(`spec.source.postgres.dsn: secret "billing-db" key "dsn"`)))
	g.Expect(err.Error()).NotTo(ContainSubstring("hunter2-secret"))
}
