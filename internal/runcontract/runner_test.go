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

// TestPreflightMessageRoundTrip: what the runner writes, the controller reads back; a
// log tail is not mistaken for a verdict.
func TestPreflightMessageRoundTrip(t *testing.T) {
	for _, passed := range []bool{true, false} {
		got, msg, ok := ParsePreflightMessage(PreflightMessage(passed, "table \"x\" has no column \"y\"") + "\n")
		if !ok || got != passed || msg != "table \"x\" has no column \"y\"" {
			t.Fatalf("round trip of passed=%v: got %v %q %v", passed, got, msg, ok)
		}
	}
	if _, _, ok := ParsePreflightMessage("panic: runtime error"); ok {
		t.Fatal("a log tail was read as a preflight verdict")
	}
	if PreflightJobName("invoices", 7) != "invoices-pf-7" {
		t.Fatal(PreflightJobName("invoices", 7))
	}
}
