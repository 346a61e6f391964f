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

const contactsTable = `CREATE TABLE contacts (
	ext_id varchar(40) NOT NULL UNIQUE,
	email text,
	name varchar(10),
	score int CHECK (score >= 0),
	amount numeric(30,10),
	vip boolean,
	born timestamptz,
	doc jsonb,
	source_updated_at timestamptz NOT NULL,
	synced_at timestamptz,
	run_id text,
	deleted_at timestamptz)`

var contactFields = []string{"email", "name", "score", "amount", "vip", "born", "doc"}

// t0 is a source time; tN(n) is n seconds and 7 microseconds later.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 123456000, time.UTC)

func tN(n int) time.Time { return t0.Add(time.Duration(n)*time.Second + 7*time.Microsecond) }

func contact(key string, at time.Time, email string) connector.WriteRecord {
	return connector.WriteRecord{Key: key, SourceID: "src-" + key, SourceUpdatedAt: at, Values: map[string]any{"email": email}}
}

// sinkPaths are the two write paths: array INSERT (pages below the threshold) and COPY.
var sinkPaths = []struct {
	name      string
	threshold int
}{{"insert", 1_000_000}, {"copy", 1}}

// contactsConfig is the sink config of contactsTable with the API's default column names.
func contactsConfig(threshold int, mode DeleteMode) SinkConfig {
	return SinkConfig{
		Table: "contacts", KeyColumn: "ext_id", Fields: contactFields,
		SourceUpdatedAtColumn: "source_updated_at", SyncedAtColumn: "synced_at", RunIDColumn: "run_id",
		CopyThreshold: threshold, DeleteMode: mode, DeleteColumn: "deleted_at",
	}
}

// newSink opens a sink on contactsTable.
func newSink(t *testing.T, dsn string, threshold int, mode DeleteMode, opts SinkOptions) *Sink {
	t.Helper()
	s, err := NewSink(context.Background(), contactsConfig(threshold, mode), dsn, opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func outcomes(rs []connector.Result) []connector.Outcome {
	out := make([]connector.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out
}

// row is a stored contact.
type row struct {
	Email    *string
	SUA      time.Time
	SyncedAt *time.Time
	RunID    *string
}

func readRows(t *testing.T, dsn string) map[string]row {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT ext_id, email, source_updated_at, synced_at, run_id FROM contacts`)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	out := map[string]row{}
	for rows.Next() {
		var k string
		var r row
		NewWithT(t).Expect(rows.Scan(&k, &r.Email, &r.SUA, &r.SyncedAt, &r.RunID)).To(Succeed())
		r.SUA = r.SUA.UTC()
		if r.SyncedAt != nil {
			u := r.SyncedAt.UTC()
			r.SyncedAt = &u
		}
		out[k] = r
	}
	NewWithT(t).Expect(rows.Err()).NotTo(HaveOccurred())
	return out
}

func ptr[T any](v T) *T { return &v }

func TestUpsertOutcomes(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable)
			clock := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
			opts := SinkOptions{RunID: "run-1", Clock: func() time.Time { return clock }}
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, opts)

			steps := []struct {
				name  string
				batch []connector.WriteRecord
				want  []connector.Outcome
			}{
				{"insert", []connector.WriteRecord{contact("a", tN(1), "a@1"), contact("b", tN(1), "b@1")},
					[]connector.Outcome{connector.Written, connector.Written}},
				{"replay is unchanged", []connector.WriteRecord{contact("a", tN(1), "a@1"), contact("b", tN(1), "b@1")},
					[]connector.Outcome{connector.Unchanged, connector.Unchanged}},
				{"newer version updates", []connector.WriteRecord{contact("a", tN(2), "a@2")},
					[]connector.Outcome{connector.Written}},
				{"older version is stale", []connector.WriteRecord{contact("a", tN(1), "a@1")},
					[]connector.Outcome{connector.Stale}},
				{"newer time, same values: the stored version moves", []connector.WriteRecord{contact("b", tN(3), "b@1")},
					[]connector.Outcome{connector.Written}},
				{"older version after a touch-only update is stale", []connector.WriteRecord{contact("b", tN(2), "b@old")},
					[]connector.Outcome{connector.Stale}},
				{"same time, new values: written", []connector.WriteRecord{contact("b", tN(3), "b@x")},
					[]connector.Outcome{connector.Written}},
			}
			for i, st := range steps {
				clock = clock.Add(time.Hour)
				sink.runID = fmt.Sprintf("run-%d", i)
				res, err := sink.Upsert(ctx, st.batch)
				g.Expect(err).NotTo(HaveOccurred(), st.name)
				g.Expect(outcomes(res)).To(Equal(st.want), st.name)
			}

			rows := readRows(t, dsn)
			g.Expect(rows).To(HaveLen(2))
			// a: written at step 2 (newer version); the stale replay left it alone.
			g.Expect(rows["a"]).To(Equal(row{Email: ptr("a@2"), SUA: tN(2), SyncedAt: ptr(time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC)), RunID: ptr("run-2")}))
			// b: its version moved to tN(3) at step 4 (touch-only), the older replay of step 5
			// was refused, step 6 wrote new values at that version.
			g.Expect(rows["b"]).To(Equal(row{Email: ptr("b@x"), SUA: tN(3), SyncedAt: ptr(time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC)), RunID: ptr("run-6")}))

			n, err := sink.CountWindow(ctx, tN(1), tN(2))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(BeEquivalentTo(1))
			n, err = sink.CountWindow(ctx, tN(2), tN(9))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(BeEquivalentTo(2))
		})
	}
}

func TestUpsertDuplicatesInOneBatch(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable)
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})

			res, err := sink.Upsert(ctx, []connector.WriteRecord{
				contact("a", tN(2), "a@2"),
				contact("a", tN(1), "a@1"), // older than the batch's newest: stale
				contact("b", tN(1), "b@first"),
				contact("a", tN(3), "a@3"),    // newest: written
				contact("b", tN(1), "b@last"), // equal times: the last one wins
				contact("c", tN(1), "c@1"),
			})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{
				connector.Stale, connector.Stale, connector.Written, connector.Written, connector.Written, connector.Written,
			}))
			rows := readRows(t, dsn)
			g.Expect(*rows["a"].Email).To(Equal("a@3"))
			g.Expect(*rows["b"].Email).To(Equal("b@last"))

			// Replaying the same batch: the newest versions are unchanged, the rest stale
			// or sharing the winner's outcome.
			res, err = sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(3), "a@3"), contact("a", tN(3), "a@3"), contact("a", tN(1), "a@1")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged, connector.Unchanged, connector.Stale}))
		})
	}
}

func TestUpsertValueTypes(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable)
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})
			// Microseconds: what timestamptz holds (finer values fail, sink_fit_test.go).
			born := time.Date(1990, 1, 2, 3, 4, 5, 678901000, time.FixedZone("X", 3600))
			res, err := sink.Upsert(ctx, []connector.WriteRecord{
				{Key: "full", SourceUpdatedAt: tN(1), Values: map[string]any{
					"email": "x@y", "name": "Zoë", "score": int64(42), "amount": connector.Decimal("-12345678901234567890.0123456789"),
					"vip": true, "born": born, "doc": connector.JSON(`{"n": 12345678901234567890.5, "s": "é"}`),
				}},
				{Key: "nulls", SourceUpdatedAt: tN(1), Values: map[string]any{
					"email": nil, "name": nil, "score": nil, "amount": nil, "vip": nil, "born": nil, "doc": nil,
				}},
				{Key: "missing", SourceUpdatedAt: tN(1), Values: map[string]any{}},
				{Key: "json null", SourceUpdatedAt: tN(1), Values: map[string]any{"doc": connector.JSON(`null`)}},
			})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written, connector.Written, connector.Written}))

			conn, err := pgx.Connect(ctx, dsn)
			g.Expect(err).NotTo(HaveOccurred())
			defer conn.Close(ctx)
			var amount, doc, bornText string
			var score int64
			var name string
			var vip bool
			var bornT time.Time
			g.Expect(conn.QueryRow(ctx, `SELECT amount::text, doc::text, score, name, vip, born, to_char(born AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM contacts WHERE ext_id = 'full'`).
				Scan(&amount, &doc, &score, &name, &vip, &bornT, &bornText)).To(Succeed())
			g.Expect(amount).To(Equal("-12345678901234567890.0123456789"), "decimals exact")
			g.Expect(doc).To(Equal(`{"n": 12345678901234567890.5, "s": "é"}`))
			g.Expect(score).To(BeEquivalentTo(42))
			g.Expect(name).To(Equal("Zoë"))
			g.Expect(vip).To(BeTrue())
			g.Expect(bornText).To(Equal("1990-01-02 02:04:05.678901"), "UTC, microseconds exact")

			var nulls int
			g.Expect(conn.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE email IS NULL AND name IS NULL AND score IS NULL AND amount IS NULL AND vip IS NULL AND born IS NULL AND doc IS NULL`).
				Scan(&nulls)).To(Succeed())
			g.Expect(nulls).To(Equal(2))
			var jsonNull string
			g.Expect(conn.QueryRow(ctx, `SELECT doc::text FROM contacts WHERE ext_id = 'json null'`).Scan(&jsonNull)).To(Succeed())
			g.Expect(jsonNull).To(Equal("null"), "a JSON null document is not SQL NULL")

			// Replaying equal values, NULLs included, writes nothing.
			res, err = sink.Upsert(ctx, []connector.WriteRecord{
				{Key: "nulls", SourceUpdatedAt: tN(1), Values: map[string]any{}},
				{Key: "full", SourceUpdatedAt: tN(1), Values: map[string]any{
					"email": "x@y", "name": "Zoë", "score": int64(42), "amount": connector.Decimal("-12345678901234567890.0123456789"),
					"vip": true, "born": born, "doc": connector.JSON(`{"s":"é","n":12345678901234567890.5}`),
				}},
			})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged, connector.Unchanged}))
		})
	}
}
