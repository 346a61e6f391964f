package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestCountsOverAnIndexRunSerially: the drift check's window counts are right with and
// without an index leading with the counted column; with one (and only then) they run
// with parallel workers off, and that setting does what it says (the count's plan has no
// Gather under it even when parallel plans cost nothing) and stays inside the count's
// transaction (the pool's connections keep the server's setting).
func TestCountsOverAnIndexRunSerially(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const fill = `INSERT INTO %s SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 5000) AS g`
	dsn := newDB(t,
		`CREATE TABLE indexed (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`CREATE INDEX ON indexed (updated_at, id)`,
		strings.Replace(fill, "%s", "indexed", 1),
		`CREATE TABLE plain (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		strings.Replace(fill, "%s", "plain", 1),
		`VACUUM ANALYZE indexed`, `VACUUM ANALYZE plain`,
		contactsTable)
	from := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	to := from.Add(999 * time.Second) // ids 1 to 1000

	for _, tc := range []struct {
		table   string
		indexed bool
	}{{"indexed", true}, {"plain", false}} {
		src, err := NewSource(ctx, SourceConfig{Table: tc.table, UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		n, err := src.CountWindow(ctx, from, to)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n).To(Equal(int64(1000)), tc.table)
		g.Expect(src.countIndex.ok).To(Equal(tc.indexed), "%s: an index leads with updated_at", tc.table)
		var setting string
		for range 3 {
			g.Expect(src.pool.QueryRow(ctx, "SHOW max_parallel_workers_per_gather").Scan(&setting)).To(Succeed())
			g.Expect(setting).To(Equal("2"), "the server's setting, after the count")
		}
		src.Close()
	}

	// The setting the counts use turns a parallel plan into a serial one.
	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(ctx) }()
	plan := func(serial bool) string {
		tx, err := conn.Begin(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = tx.Rollback(ctx) }()
		for _, s := range []string{"SET LOCAL parallel_setup_cost = 0", "SET LOCAL parallel_tuple_cost = 0", "SET LOCAL min_parallel_index_scan_size = 0",
			"SET LOCAL min_parallel_table_scan_size = 0"} {
			_, err := tx.Exec(ctx, s)
			g.Expect(err).NotTo(HaveOccurred())
		}
		if serial {
			_, err := tx.Exec(ctx, serialSetting)
			g.Expect(err).NotTo(HaveOccurred())
		}
		var b strings.Builder
		rows, err := tx.Query(ctx, "EXPLAIN SELECT count(*) FROM plain WHERE updated_at >= $1 AND updated_at <= $2", from, to.Add(4000*time.Second))
		g.Expect(err).NotTo(HaveOccurred())
		for rows.Next() {
			var line string
			g.Expect(rows.Scan(&line)).To(Succeed())
			b.WriteString(line + "\n")
		}
		g.Expect(rows.Err()).NotTo(HaveOccurred())
		return b.String()
	}
	g.Expect(plan(false)).To(ContainSubstring("Gather"), "parallel plans cost nothing here")
	g.Expect(plan(true)).NotTo(ContainSubstring("Gather"))

	// The sink: with the index on its source updated-at column (and without) the count is
	// right.
	for _, indexed := range []bool{false, true} {
		if indexed {
			exec(t, dsn, `CREATE INDEX ON contacts (source_updated_at)`)
		}
		exec(t, dsn, `TRUNCATE contacts`)
		sink := newSink(t, dsn, 1_000_000, DeleteIgnore, SinkOptions{})
		_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(2), "b"), contact("c", tN(5), "c")})
		g.Expect(err).NotTo(HaveOccurred())
		n, err := sink.CountWindow(ctx, tN(0), tN(3))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n).To(Equal(int64(2)))
		g.Expect(sink.versionsIndexed(ctx)).To(Equal(indexed))
	}
}
