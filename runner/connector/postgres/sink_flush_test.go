package postgres

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/test/pgtest"
)

// commitModeLog records, for every row a transaction inserts into contacts, the
// synchronous_commit setting the transaction ran with.
const commitModeLog = `CREATE TABLE commit_modes (mode text);
CREATE FUNCTION log_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO commit_modes VALUES (current_setting('synchronous_commit')); RETURN NEW; END $$;
CREATE TRIGGER log_commit_mode AFTER INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION log_commit_mode()`

// queryOne returns the single value of q (query, on its own connection).
func queryOne[T any](t *testing.T, dsn, q string) T {
	t.Helper()
	var v T
	NewWithT(t).Expect(query(t, dsn, q, &v)).To(Succeed())
	return v
}

// TestAPageCommitsAsynchronously: a page written through COPY commits with
// synchronous_commit off; the single-statement path keeps the server's setting.
func TestAPageCommitsAsynchronously(t *testing.T) {
	for _, tc := range []struct {
		path      string
		threshold int
		mode      string
	}{{"copy", 1, "off"}, {"insert", 1_000_000, "on"}} {
		t.Run(tc.path, func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, contactsTable, commitModeLog)
			sink := newSink(t, dsn, tc.threshold, DeleteIgnore, SinkOptions{})
			_, err := sink.Upsert(context.Background(), []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(1), "b")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(queryOne[[]string](t, dsn, `SELECT array_agg(mode) FROM commit_modes`)).To(Equal([]string{tc.mode, tc.mode}))
		})
	}
}

// TestFlushPutsAsynchronousPagesOnDisk: on a server of its own whose WAL writer flushes
// only every 10 s and never for size, Flush returns once the WAL is on disk past the
// pages written before it: by its own row lock's commit (a Flush whose statement wrote no
// WAL, which PostgreSQL commits asynchronously whatever synchronous_commit says, left the
// page's commit in memory), or, when the pages deleted every row and there is none to
// lock, by waiting for the WAL writer (a Flush that did not wait returned before it).
func TestFlushPutsAsynchronousPagesOnDisk(t *testing.T) {
	ctx := context.Background()
	srv, err := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{"wal_writer_delay": "10s", "wal_writer_flush_after": "1GB"}})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = srv.Stop() })
	newServerDB := func(t *testing.T, name string) string {
		t.Helper()
		NewWithT(t).Expect(srv.CreateDB(ctx, name)).To(Succeed())
		dsn := srv.DSN(name)
		exec(t, dsn, contactsTable)
		return dsn
	}

	t.Run("a row to lock", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newServerDB(t, "flush_locked")
		sink := newSink(t, dsn, 1, DeleteIgnore, SinkOptions{})
		_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(1), "b")})
		g.Expect(err).NotTo(HaveOccurred())
		written := queryOne[string](t, dsn, `SELECT pg_current_wal_insert_lsn()::text`)
		g.Expect(sink.Flush(ctx)).To(Succeed())
		g.Expect(onDisk(t, dsn, written)).To(BeTrue(), "flushed past the page")
	})
	t.Run("no row to lock", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newServerDB(t, "flush_empty")
		sink := newSink(t, dsn, 1, DeleteHard, SinkOptions{})
		_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a")})
		g.Expect(err).NotTo(HaveOccurred())
		gone := contact("a", tN(2), "a")
		gone.Deleted = true
		_, err = sink.Upsert(ctx, []connector.WriteRecord{gone})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(readRows(t, dsn)).To(BeEmpty())
		written := queryOne[string](t, dsn, `SELECT pg_current_wal_insert_lsn()::text`)
		g.Expect(sink.Flush(ctx)).To(Succeed())
		g.Expect(onDisk(t, dsn, written)).To(BeTrue(), "flushed past the deletes")
	})
}

// onDisk reports whether the server's WAL is flushed up to lsn.
func onDisk(t *testing.T, dsn, lsn string) bool {
	t.Helper()
	return queryOne[bool](t, dsn, `SELECT pg_current_wal_flush_lsn() >= '`+lsn+`'::pg_lsn`)
}

// TestFlushSendsNothingWhenNothingIsUnflushed: Flush asks the server only after a page
// committed asynchronously, and reports a failure to reach it.
func TestFlushSendsNothingWhenNothingIsUnflushed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)

	idle := newSink(t, dsn, 1, DeleteIgnore, SinkOptions{})
	g.Expect(idle.Close()).To(Succeed())
	g.Expect(idle.Flush(ctx)).To(Succeed(), "nothing to flush: the closed pool is not used")

	single := newSink(t, dsn, 1_000_000, DeleteIgnore, SinkOptions{})
	_, err := single.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(single.Close()).To(Succeed())
	g.Expect(single.Flush(ctx)).To(Succeed(), "a single statement commits synchronously")

	paged := newSink(t, dsn, 1, DeleteIgnore, SinkOptions{})
	_, err = paged.Upsert(ctx, []connector.WriteRecord{contact("b", tN(1), "b")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(paged.Close()).To(Succeed())
	g.Expect(paged.Flush(ctx)).To(MatchError(ContainSubstring(`flush the writes into "contacts" to disk`)))
}
