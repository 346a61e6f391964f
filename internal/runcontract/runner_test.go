package runcontract

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestSecretEnvName(t *testing.T) {
	for _, tc := range []struct{ secret, key, want string }{
		{"billing-db", "dsn", "BILLING_DB_DSN"},
		{"crm.token", "api-key", "CRM_TOKEN_API_KEY"},
		{"a_b", "C9", "A_B_C9"},
	} {
		NewWithT(t).Expect(SecretEnvName(tc.secret, tc.key)).To(Equal(tc.want), "%s/%s", tc.secret, tc.key)
	}
}

func TestRequestedJobName(t *testing.T) {
	g := NewWithT(t)
	name := RequestedJobName("a23456789012345678901234567890123456789012345678901", KindBackfill, "2026-11-30T10:00:00Z")
	g.Expect(len(name)).To(BeNumerically("<=", 63))
	g.Expect(RequestedJobName("sj", KindRun, "t1")).To(Equal(RequestedJobName("sj", KindRun, "t1")), "one token, one name")
	g.Expect(RequestedJobName("sj", KindRun, "t1")).NotTo(Equal(RequestedJobName("sj", KindRun, "t2")))
	g.Expect(RequestedJobName("sj", KindRun, "t1")).NotTo(Equal(RequestedJobName("sj", KindReset, "t1")))
}
