package secretenv

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ secret, key, want string }{
		{"billing-db", "dsn", "BILLING_DB_DSN"},
		{"crm.token", "api-key", "CRM_TOKEN_API_KEY"},
		{"a_b", "C9", "A_B_C9"},
	} {
		NewWithT(t).Expect(Name(tc.secret, tc.key)).To(Equal(tc.want), "%s/%s", tc.secret, tc.key)
	}
}

func TestLookup(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("BILLING_DB_DSN", "postgres://u:p@h/db")
	v, err := Lookup("billing-db", "dsn")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(Equal("postgres://u:p@h/db"))

	_, err = Lookup("missing", "key")
	g.Expect(err).To(MatchError(ContainSubstring("MISSING_KEY is not set")))
}
