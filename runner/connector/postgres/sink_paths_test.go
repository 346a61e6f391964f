package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
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
		sink := newSink(t, dsn, path.threshold, SinkOptions{RunID: "r", Clock: clock})
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
				sink := newSink(t, dsn, path.threshold, SinkOptions{DeleteMode: DeleteHard})
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
				sink := newSink(t, dsn, path.threshold, SinkOptions{DeleteMode: DeleteSoft})
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
				sink := newSink(t, dsn, path.threshold, SinkOptions{})
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
	tests := []struct {
		name string
		spec v1alpha1.PostgresSink
		opts SinkOptions
		err  string
	}{
		{"missing table", v1alpha1.PostgresSink{Table: "nope"}, SinkOptions{KeyField: "ext_id"}, `table "nope" not found`},
		{"a view", v1alpha1.PostgresSink{Table: "v"}, SinkOptions{KeyField: "ext_id"}, `is not a table`},
		{"missing key column", v1alpha1.PostgresSink{Table: "contacts"}, SinkOptions{KeyField: "id"}, `key (spec.key.field) column "id" not found`},
		{"no unique index", v1alpha1.PostgresSink{Table: "loose"}, SinkOptions{KeyField: "ext_id"}, `has no unique index`},
		{"integer key", v1alpha1.PostgresSink{Table: "numkey"}, SinkOptions{KeyField: "ext_id"}, `is integer, want text or varchar`},
		{"source updated-at without zone", v1alpha1.PostgresSink{Table: "naive"}, SinkOptions{KeyField: "ext_id"}, `is timestamp without time zone, want timestamptz`},
		{"missing source updated-at", v1alpha1.PostgresSink{Table: "contacts", SourceUpdatedAtColumn: "sua"}, SinkOptions{KeyField: "ext_id"}, `column "sua" not found`},
		{"missing field", v1alpha1.PostgresSink{Table: "contacts"}, SinkOptions{KeyField: "ext_id", Fields: []string{"email", "phone"}}, `mapped field column "phone" not found in table "contacts"`},
		{"field twice", v1alpha1.PostgresSink{Table: "contacts"}, SinkOptions{KeyField: "ext_id", Fields: []string{"email", "email"}}, `used both as`},
		{"missing synced-at", v1alpha1.PostgresSink{Table: "contacts", SyncedAtColumn: "synced"}, SinkOptions{KeyField: "ext_id"}, `synced-at (spec.sink.postgres.syncedAtColumn) column "synced" not found`},
		{"soft delete column not a time", v1alpha1.PostgresSink{Table: "contacts"}, SinkOptions{KeyField: "ext_id", DeleteMode: DeleteSoft, DeleteField: "email"}, `want timestamptz or timestamp`},
		{"bad delete mode", v1alpha1.PostgresSink{Table: "contacts"}, SinkOptions{KeyField: "ext_id", DeleteMode: "Purge"}, `delete mode "Purge"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := NewSink(context.Background(), tt.spec, dsn, tt.opts)
			g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
			g.Expect(s).To(BeNil())
		})
	}
}
