package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestStaleIsReportedByTheMerge: the merge itself tells Stale from Unchanged and Written,
// with results in binary and in text form (simple protocol), with a stored version of
// infinity, and a stale record leaves its row exactly as it was.
func TestStaleIsReportedByTheMerge(t *testing.T) {
	modes := []struct{ name, suffix string }{{"extended", ""}, {"simple protocol", "&default_query_exec_mode=simple_protocol"}}
	for _, mode := range modes {
		for _, path := range sinkPaths {
			t.Run(mode.name+"/"+path.name, func(t *testing.T) {
				g := NewWithT(t)
				ctx := context.Background()
				dsn := newDB(t, contactsTable)
				clock := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
				sink := newSink(t, dsn+mode.suffix, path.threshold, DeleteIgnore, SinkOptions{RunID: "run-1", Clock: func() time.Time { return clock }})

				res, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(5), "a@5"), contact("b", tN(5), "b@5"), contact("inf", tN(5), "i")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written, connector.Written}))
				exec(t, dsn, `UPDATE contacts SET source_updated_at = 'infinity' WHERE ext_id = 'inf'`)
				before := dump(t, dsn)

				clock = clock.Add(time.Hour)
				sink.runID = "run-2"
				res, err = sink.Upsert(ctx, []connector.WriteRecord{
					contact("a", tN(4), "a@4"),                        // older, other values: stale
					contact("b", tN(4), "b@5"),                        // older, same values: stale
					contact("inf", tN(9), "i@9"),                      // the stored version is infinity: stale
					contact("a", tN(5).Add(-time.Microsecond), "a@x"), // a microsecond older: stale
				})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Stale, connector.Stale, connector.Stale, connector.Stale}))
				g.Expect(dump(t, dsn)).To(Equal(before), "stale records leave their rows as they were")

				// Sub-microsecond differences are not versions: tN(5) plus 999ns is tN(5).
				res, err = sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(5).Add(999), "a@5"), contact("b", tN(5), "b@6"), contact("c", tN(1), "c")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged, connector.Written, connector.Written}))
			})
		}
	}
}

// TestStaleDeleteIsReportedByTheDelete: a hard delete of a row holding a newer version is
// Stale, of a missing row Unchanged, in one statement with the deletes that happen.
func TestStaleDeleteIsReportedByTheDelete(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)
	sink := newSink(t, dsn, 1_000_000, DeleteHard, SinkOptions{})
	_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(5), "b"), contact("c", tN(2), "c")})
	g.Expect(err).NotTo(HaveOccurred())
	del := func(key string, at time.Time) connector.WriteRecord {
		r := contact(key, at, "")
		r.Deleted = true
		return r
	}
	res, err := sink.Upsert(ctx, []connector.WriteRecord{del("a", tN(2)), del("b", tN(4)), del("c", tN(2)), del("z", tN(2))})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Stale, connector.Written, connector.Unchanged}))

	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	var keys []string
	rows, err := conn.Query(ctx, `SELECT ext_id FROM contacts ORDER BY 1`)
	g.Expect(err).NotTo(HaveOccurred())
	keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(keys).To(Equal([]string{"b"}))
}
