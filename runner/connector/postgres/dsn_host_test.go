package postgres

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestEmptyDSNHostIsRefused: a DSN whose host, or one element of its host list, is empty
// is refused naming the host: libpq (and pgconn) would put its default there, a unix socket
// directory or localhost, and connect to whatever listens on it. A host that swallowed the
// next setting ("host= port=5432") is refused too, without echoing that setting (it may be
// the password). Explicit hosts, unix socket directories included, are kept.
func TestEmptyDSNHostIsRefused(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want string // "" : accepted
	}{
		{"host='' port=5432 user=postgres dbname=x", "the DSN's host is empty"},
		{`host="" user=postgres dbname=x`, ""}, // double quotes are not quoting: a host named `""`
		{"host=' ' user=postgres dbname=x", "the DSN's host is empty"},
		{"host= port=5432 user=postgres dbname=x", "the DSN's host is empty"},
		{"host= password=s3cr3t user=postgres dbname=x", "the DSN's host is empty"},
		{"user=postgres dbname=x host=", "the DSN's host is empty"},
		{"host=a, port=5432 user=postgres dbname=x", "host list element 2 of 2 is empty"},
		{"host=,a user=postgres dbname=x", "host list element 1 of 2 is empty"},
		{"host=a host='' user=postgres dbname=x", "the DSN's host is empty"}, // the last one counts
		{"host='' host=a user=postgres dbname=x", ""},
		{"postgres://postgres@a,/x", "host list element 2 of 2 is empty"},
		{"postgres://postgres@a,:5433/x", "host list element 2 of 2 is empty"},
		{"postgres://postgres@:5433,a/x", "host list element 1 of 2 is empty"},
		{"postgres://postgres@/x?host=", "the DSN's host is empty"},
		{"postgresql://postgres@a/x?host=", "the DSN's host is empty"},
		{"postgres://postgres@/x?host=/tmp", ""},
		{"postgres://postgres@a:5432,b:5433/x", ""},
		{"postgres://postgres@[::1]:5432/x", ""},
		{"host=/tmp user=postgres dbname=x", ""},
		{"host=a,b user=postgres dbname=x", ""},
		{`host=a\ b user=postgres dbname=x`, ""},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			g := NewWithT(t)
			_, err := parseDSN(tc.dsn)
			if tc.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(err.Error()).NotTo(ContainSubstring("s3cr3t"))
			g.Expect(CheckDSN(tc.dsn)).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
