package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// dump returns every stored contact as text, for comparing two tables.
func dump(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c::text FROM contacts c ORDER BY ext_id`)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return out
}

// TestCopyAndInsertPathsAgree runs the same batches through both paths and expects the
// same results and the same table.
func TestCopyAndInsertPathsAgree(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) }
	var batches [][]connector.WriteRecord
	for b := 0; b < 4; b++ {
		var batch []connector.WriteRecord
		for i := 0; i < 30; i++ {
			k := (i*7 + b*5) % 37 // overlapping keys across batches, some twice in a batch
			at := tN((i + b*3) % 11)
			rec := connector.WriteRecord{Key: fmt.Sprintf("k%02d", k), SourceID: fmt.Sprint(k), SourceUpdatedAt: at, Values: map[string]any{
				"email":  fmt.Sprintf("e%d", (i+b)%4),
				"score":  int64(i % 5),
				"amount": connector.Decimal(fmt.Sprintf("%d.%02d", i, b)),
				"vip":    i%2 == 0,
				"born":   at,
				"doc":    connector.JSON(fmt.Sprintf(`{"b": %d}`, i%3)),
			}}
			if i%9 == 4 {
				rec.Values["score"] = int64(-i) // rejected by the check constraint
			}
			if i%6 == 5 {
				rec.Values["name"] = nil
				rec.Values["amount"] = nil
			}
			batch = append(batch, rec)
		}
		batches = append(batches, batch)
	}
	batches = append(batches, batches[3]) // a replay: unchanged and stale records

	var results [2][][]connector.Outcome
	var tables [2][]string
	for p, path := range sinkPaths {
		dsn := newDB(t, contactsTable)
		sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{RunID: "r", Clock: clock})
		for _, batch := range batches {
			res, err := sink.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())
			results[p] = append(results[p], outcomes(res))
		}
		tables[p] = dump(t, dsn)
		g.Expect(sink.staged).To(HaveLen(int(map[bool]int{true: 1, false: 0}[path.name == "copy"])), "%s path used", path.name)
	}
	g.Expect(results[1]).To(Equal(results[0]))
	g.Expect(tables[1]).To(Equal(tables[0]))

	// Every outcome occurred, so the comparison means something.
	seen := map[connector.Outcome]bool{}
	for _, b := range results[0] {
		for _, o := range b {
			seen[o] = true
		}
	}
	g.Expect(seen).To(HaveLen(4))
}

func TestDeletes(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			ctx := context.Background()
			deleted := func(key string, at time.Time) connector.WriteRecord {
				r := contact(key, at, key+"@gone")
				r.Deleted = true
				return r
			}
			t.Run("Delete", func(t *testing.T) {
				g := NewWithT(t)
				dsn := newDB(t, contactsTable)
				sink := newSink(t, dsn, path.threshold, DeleteHard, SinkOptions{})
				_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(5), "b")})
				g.Expect(err).NotTo(HaveOccurred())
				res, err := sink.Upsert(ctx, []connector.WriteRecord{deleted("a", tN(2)), deleted("b", tN(2)), deleted("c", tN(2)), contact("d", tN(1), "d")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Stale, connector.Unchanged, connector.Written}))
				g.Expect(readRows(t, dsn)).To(SatisfyAll(HaveLen(2), HaveKey("b"), HaveKey("d")))
			})
			t.Run("SoftDelete", func(t *testing.T) {
				g := NewWithT(t)
				dsn := newDB(t, contactsTable)
				sink := newSink(t, dsn, path.threshold, DeleteSoft, SinkOptions{})
				_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(5), "b")})
				g.Expect(err).NotTo(HaveOccurred())
				res, err := sink.Upsert(ctx, []connector.WriteRecord{deleted("a", tN(2)), deleted("b", tN(2))})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Stale}))
				res, err = sink.Upsert(ctx, []connector.WriteRecord{deleted("a", tN(2))})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged}))

				conn, err := pgx.Connect(ctx, dsn)
				g.Expect(err).NotTo(HaveOccurred())
				defer conn.Close(ctx)
				var at *time.Time
				g.Expect(conn.QueryRow(ctx, `SELECT deleted_at FROM contacts WHERE ext_id = 'a'`).Scan(&at)).To(Succeed())
				g.Expect(at).NotTo(BeNil())
				g.Expect(at.UTC()).To(Equal(tN(2)))
				g.Expect(conn.QueryRow(ctx, `SELECT deleted_at FROM contacts WHERE ext_id = 'b'`).Scan(&at)).To(Succeed())
				g.Expect(at).To(BeNil())

				// The record coming back clears the mark.
				res, err = sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(3), "a@gone")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written}))
				g.Expect(conn.QueryRow(ctx, `SELECT deleted_at FROM contacts WHERE ext_id = 'a'`).Scan(&at)).To(Succeed())
				g.Expect(at).To(BeNil())
			})
			t.Run("Ignore", func(t *testing.T) {
				g := NewWithT(t)
				dsn := newDB(t, contactsTable)
				sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})
				res, err := sink.Upsert(ctx, []connector.WriteRecord{deleted("a", tN(2))})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged}))
				g.Expect(readRows(t, dsn)).To(BeEmpty())
			})
		})
	}
}

func TestSinkSetupErrors(t *testing.T) {
	dsn := newDB(t, contactsTable,
		`CREATE TABLE loose (ext_id text, source_updated_at timestamptz, email text)`,
		`CREATE TABLE naive (ext_id text UNIQUE, source_updated_at timestamp, email text)`,
		`CREATE TABLE numkey (ext_id int UNIQUE, source_updated_at timestamptz)`,
		`CREATE VIEW v AS SELECT * FROM contacts`)
	// with is a valid config of contacts, changed by f.
	with := func(f func(*SinkConfig)) SinkConfig {
		c := SinkConfig{Table: "contacts", KeyColumn: "ext_id", SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000, DeleteMode: DeleteIgnore}
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  SinkConfig
		err  string
	}{
		{"missing table", with(func(c *SinkConfig) { c.Table = "nope" }), `table "nope" not found`},
		{"a view", with(func(c *SinkConfig) { c.Table = "v" }), `is not a table`},
		{"missing key column", with(func(c *SinkConfig) { c.KeyColumn = "id" }), `key (spec.key.field) column "id" not found`},
		{"no unique index", with(func(c *SinkConfig) { c.Table = "loose" }), `has no unique index`},
		{"integer key", with(func(c *SinkConfig) { c.Table = "numkey" }), `is integer, want text or varchar`},
		{"source updated-at without zone", with(func(c *SinkConfig) { c.Table = "naive" }), `is timestamp without time zone, want timestamptz`},
		{"missing source updated-at", with(func(c *SinkConfig) { c.SourceUpdatedAtColumn = "sua" }), `column "sua" not found`},
		{"missing field", with(func(c *SinkConfig) { c.Fields = []string{"email", "phone"} }), `mapped field column "phone" not found in table "contacts"`},
		{"field twice", with(func(c *SinkConfig) { c.Fields = []string{"email", "email"} }), `used both as`},
		{"missing synced-at", with(func(c *SinkConfig) { c.SyncedAtColumn = "synced" }), `synced-at (spec.sink.postgres.syncedAtColumn) column "synced" not found`},
		{"soft delete column not a time", with(func(c *SinkConfig) { c.DeleteMode, c.DeleteColumn = DeleteSoft, "email" }), `want timestamptz or timestamp`},
		{"bad delete mode", with(func(c *SinkConfig) { c.DeleteMode = "Purge" }), `delete mode "Purge"`},
		// Fields the API always sets: empty is refused, never defaulted.
		{"bad table name", with(func(c *SinkConfig) { c.Table = "a.b.c" }), `want table or schema.table`},
		{"no key column", with(func(c *SinkConfig) { c.KeyColumn = "" }), `key field (spec.key.field) is empty`},
		{"no source updated-at column", with(func(c *SinkConfig) { c.SourceUpdatedAtColumn = "" }), `spec.sink.postgres.sourceUpdatedAtColumn) is empty`},
		{"no copy threshold", with(func(c *SinkConfig) { c.CopyThreshold = 0 }), `copy threshold (spec.sink.postgres.copyThreshold) 0: want at least 1`},
		{"no delete mode", with(func(c *SinkConfig) { c.DeleteMode = "" }), `delete mode (spec.deletes.mode) is empty`},
		{"soft delete without column", with(func(c *SinkConfig) { c.DeleteMode = DeleteSoft }), `soft-delete column (spec.deletes.sinkField) is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := NewSink(context.Background(), tt.cfg, dsn, SinkOptions{})
			g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
			g.Expect(s).To(BeNil())
		})
	}
}
