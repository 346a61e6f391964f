package postgres

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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

// TestWarmUpConnectsAloneWhenAllWereRefused: connections started together that were all
// refused for too many connections (two at once over a role's limit of one can both be
// refused) are followed by one alone, which connects; any other refusal is returned.
func TestWarmUpConnectsAloneWhenAllWereRefused(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, contactsTable)
	pool, err := pgxpool.New(context.Background(), dsn)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(pool.Close)

	refuse := func(code string, times int) (func(context.Context) (*pgxpool.Conn, error), *atomic.Int64) {
		var calls atomic.Int64
		return func(ctx context.Context) (*pgxpool.Conn, error) {
			if calls.Add(1) <= int64(times) {
				return nil, &pgconn.PgError{Severity: "FATAL", Code: code, Message: "too many connections for role \"solo\""}
			}
			return pool.Acquire(ctx)
		}, &calls
	}

	acquire, calls := refuse("53300", 2)
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(Succeed())
	g.Expect(calls.Load()).To(BeEquivalentTo(3), "two refused together, one alone")

	acquire, calls = refuse("28P01", 2) // password authentication failed: not retried
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(MatchError(ContainSubstring("too many")))
	g.Expect(calls.Load()).To(BeEquivalentTo(2))

	acquire, calls = refuse("53300", 1) // one of two connected: nothing more
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(Succeed())
	g.Expect(calls.Load()).To(BeEquivalentTo(2))
}
