package postgres

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestConnectOpensTwoConnections: connecting opens the two connections a run uses at a
// time, at once, and leaves them idle in the pool; a role that may hold only one
// connection still connects (the second is best-effort) and is served.
func TestConnectOpensTwoConnections(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, contactsTable)
	s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
	st := s.pool.Stat()
	g.Expect(st.TotalConns()).To(BeEquivalentTo(2))
	g.Expect(st.IdleConns()).To(BeEquivalentTo(2))

	exec(t, dsn, `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'solo') THEN CREATE ROLE solo LOGIN CONNECTION LIMIT 1; END IF; END $$`,
		`GRANT ALL ON contacts TO solo`)
	soloDSN := strings.Replace(dsn, "postgres@", "solo@", 1)
	g.Expect(soloDSN).NotTo(Equal(dsn))
	solo := newSink(t, soloDSN, 1_000_000, DeleteSoft, SinkOptions{})
	g.Expect(solo.pool.Stat().TotalConns()).To(BeEquivalentTo(1))
	_, err := solo.Upsert(context.Background(), nil)
	g.Expect(err).NotTo(HaveOccurred())
	n, err := solo.CountWindow(context.Background(), tN(0), tN(10))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}
