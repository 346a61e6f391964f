package postgres

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/gomega"
)

// TestConnectOpensTwoConnections: connecting opens the two connections a run uses at a
// time, at once, and leaves them idle in the pool (the second may still be connecting when
// connect returns); a role that may hold only one connection still connects (the second
// is best-effort) and is served.
func TestConnectOpensTwoConnections(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, contactsTable)
	s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
	g.Eventually(func() int32 { return s.pool.Stat().IdleConns() }).Should(BeEquivalentTo(2))
	g.Expect(s.pool.Stat().TotalConns()).To(BeEquivalentTo(2))

	exec(t, dsn, `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'solo') THEN CREATE ROLE solo LOGIN CONNECTION LIMIT 1; END IF; END $$`,
		`GRANT ALL ON contacts TO solo`)
	soloDSN := strings.Replace(dsn, "postgres@", "solo@", 1)
	g.Expect(soloDSN).NotTo(Equal(dsn))
	solo := newSink(t, soloDSN, 1_000_000, DeleteSoft, SinkOptions{})
	g.Eventually(func() int32 { return solo.pool.Stat().ConstructingConns() }).Should(BeZero())
	g.Expect(solo.pool.Stat().TotalConns()).To(BeEquivalentTo(1))
	_, err := solo.Upsert(context.Background(), nil)
	g.Expect(err).NotTo(HaveOccurred())
	n, err := solo.CountWindow(context.Background(), tN(0), tN(10))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}

// TestWarmUpConnectsAloneWhenAllWereRefused: a first connection refused for too many
// connections (two starting at once over a role's limit of one can both be refused; the
// other side of the run may be connecting to the same server) is followed by one more
// alone, which connects, and then by the background one; a second refusal, or any other
// refusal, is returned, and nothing more is tried.
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

	acquire, calls := refuse("53300", 1)
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(Succeed())
	g.Eventually(calls.Load).Should(BeEquivalentTo(3), "one refused, one alone, then the background one")
	g.Consistently(calls.Load, "50ms").Should(BeEquivalentTo(3))

	acquire, calls = refuse("53300", 2) // refused alone too: returned
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(MatchError(ContainSubstring("too many")))
	g.Consistently(calls.Load, "50ms").Should(BeEquivalentTo(2))

	acquire, calls = refuse("28P01", 1) // password authentication failed: not retried
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(MatchError(ContainSubstring("too many")))
	g.Consistently(calls.Load, "50ms").Should(BeEquivalentTo(1))

	acquire, calls = refuse("53300", 0) // connected: the second in the background, nothing more
	g.Expect(warmUpWith(context.Background(), acquire, 2)).To(Succeed())
	g.Eventually(calls.Load).Should(BeEquivalentTo(2))
	g.Consistently(calls.Load, "50ms").Should(BeEquivalentTo(2))
}

// TestWarmUpReturnsOnceOneIsUsable: warming up returns as soon as one connection is
// usable, while the other is still connecting (it starts once the first is usable); it goes on after the caller's context
// is cancelled (connect cancels it as it returns) and joins the pool idle. A context
// cancelled before any connection is usable stops the warm-up with its error.
func TestWarmUpReturnsOnceOneIsUsable(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, contactsTable)
	cfg, err := pgxpool.ParseConfig(dsn)
	g.Expect(err).NotTo(HaveOccurred())
	hold := make(chan struct{})
	var connects atomic.Int64
	cfg.AfterConnect = func(context.Context, *pgx.Conn) error {
		if connects.Add(1) == 2 {
			<-hold // the second is still connecting
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(pool.Close)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the pool closes, which waits for the connection held

	var lateErr atomic.Value
	acquire := func(ctx context.Context) (*pgxpool.Conn, error) {
		c, err := pool.Acquire(ctx)
		if err != nil {
			lateErr.Store(err)
		}
		return c, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- warmUpWith(ctx, acquire, 2) }()
	g.Eventually(done).Should(Receive(BeNil()))
	g.Eventually(func() int32 { return pool.Stat().ConstructingConns() }).Should(BeEquivalentTo(1))
	cancel()
	release()
	g.Eventually(func() int32 { return pool.Stat().IdleConns() }).Should(BeEquivalentTo(2))
	g.Expect(pool.Stat().TotalConns()).To(BeEquivalentTo(2))
	g.Expect(lateErr.Load()).To(BeNil(), "the second attempt was not cancelled with the caller's context")

	ctx, cancel = context.WithCancel(context.Background())
	blocked := func(ctx context.Context) (*pgxpool.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	go func() { done <- warmUpWith(ctx, blocked, 2) }()
	cancel()
	g.Eventually(done).Should(Receive(MatchError(context.Canceled)))
}
