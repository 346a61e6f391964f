package jobconfig

import (
	"testing"

	. "github.com/onsi/gomega"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

func TestSecretFromEnvironment(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("BILLING_DB_DSN", "postgres://u:p@h/db")
	v, err := secret("spec.source.postgres.dsn", syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(Equal("postgres://u:p@h/db"))

	_, err = secret("spec.sink.postgres.dsn", syncv1.SecretKeyRef{Name: "missing", Key: "key"})
	g.Expect(err).To(MatchError(And(ContainSubstring("spec.sink.postgres.dsn"), ContainSubstring("MISSING_KEY is not set"))))
}
