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

// TestConnectOpensOneConnection: connecting opens one connection and leaves it idle in the
// pool — no second backend starts ahead of need — and a second opens when two statements
// run on one side at once; a role that may hold only one connection connects and is served.
func TestConnectOpensOneConnection(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)
	s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
	g.Consistently(func() int32 { return s.pool.Stat().TotalConns() }, "100ms").Should(BeEquivalentTo(1))
	g.Expect(s.pool.Stat().IdleConns()).To(BeEquivalentTo(1))

	held, err := s.pool.Acquire(ctx) // one statement under way
	g.Expect(err).NotTo(HaveOccurred())
	n, err := s.CountWindow(ctx, tN(0), tN(10)) // and another beside it
	held.Release()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
	g.Expect(s.pool.Stat().TotalConns()).To(BeEquivalentTo(2), "the second opened on demand")

	exec(t, dsn, `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'solo') THEN CREATE ROLE solo LOGIN CONNECTION LIMIT 1; END IF; END $$`,
		`GRANT ALL ON contacts TO solo`)
	soloDSN := strings.Replace(dsn, "postgres@", "solo@", 1)
	g.Expect(soloDSN).NotTo(Equal(dsn))
	solo := newSink(t, soloDSN, 1_000_000, DeleteSoft, SinkOptions{})
	g.Expect(solo.pool.Stat().TotalConns()).To(BeEquivalentTo(1))
	_, err = solo.Upsert(ctx, nil)
	g.Expect(err).NotTo(HaveOccurred())
	n, err = solo.CountWindow(ctx, tN(0), tN(10))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}

// TestWarmUpTriesAgainWhenRefusedForTooManyConnections: a first connection refused for too
// many connections (the other side of the run may be connecting to the same server under a
// role's limit) is tried once more; a second refusal, or any other refusal, is returned,
// and nothing more is tried. A context cancelled before the connection is usable stops the
// warm-up with its error.
func TestWarmUpTriesAgainWhenRefusedForTooManyConnections(t *testing.T) {
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

	acquire, calls := refuse("53300", 1)
	g.Expect(warmUp(context.Background(), acquire)).To(Succeed())
	g.Expect(calls.Load()).To(BeEquivalentTo(2), "one refused, one more")

	acquire, calls = refuse("53300", 2) // refused again: returned
	g.Expect(warmUp(context.Background(), acquire)).To(MatchError(ContainSubstring("too many")))
	g.Expect(calls.Load()).To(BeEquivalentTo(2))

	acquire, calls = refuse("28P01", 1) // password authentication failed: not retried
	g.Expect(warmUp(context.Background(), acquire)).To(MatchError(ContainSubstring("too many")))
	g.Expect(calls.Load()).To(BeEquivalentTo(1))

	acquire, calls = refuse("53300", 0) // connected at once: nothing more
	g.Expect(warmUp(context.Background(), acquire)).To(Succeed())
	g.Expect(calls.Load()).To(BeEquivalentTo(1))
	g.Expect(pool.Stat().IdleConns()).To(BeEquivalentTo(1), "the connection is left idle in the pool")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocked := func(ctx context.Context) (*pgxpool.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	g.Expect(warmUp(ctx, blocked)).To(MatchError(context.Canceled))
}
