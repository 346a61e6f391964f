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

// TestSecretEmptyIsRefused: an empty or whitespace credential (the variable set but
// empty, or an empty key in the Secret) is a setup error naming the field, the Secret, the
// key and the variable, never something libpq or an HTTP client fills in with a default.
func TestSecretEmptyIsRefused(t *testing.T) {
	for _, v := range []string{"", " ", "\t\n", "  \r\n "} {
		g := NewWithT(t)
		t.Setenv("BILLING_DB_DSN", v)
		_, err := secret("spec.source.postgres.dsn", syncv1.SecretKeyRef{Name: "billing-db", Key: "dsn"})
		g.Expect(err).To(MatchError(And(
			ContainSubstring("spec.source.postgres.dsn"), ContainSubstring(`secret "billing-db" key "dsn"`),
			ContainSubstring("BILLING_DB_DSN"), ContainSubstring("empty"))), "value %q", v)
	}
}
