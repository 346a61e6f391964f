package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/checkpointed/checkpointed/runner/connector"
)

const (
	benchRows = 100_000
	benchPage = 5_000
	benchDDL  = `CREATE TABLE bench (ext_id text NOT NULL UNIQUE, email text, score bigint, amount numeric, source_updated_at timestamptz NOT NULL)`
)

func benchPages(round int) [][]connector.WriteRecord {
	var pages [][]connector.WriteRecord
	for p := 0; p < benchRows/benchPage; p++ {
		page := make([]connector.WriteRecord, benchPage)
		for i := range page {
			n := p*benchPage + i
			page[i] = connector.WriteRecord{Key: fmt.Sprintf("key-%07d", n), SourceID: fmt.Sprint(n), SourceUpdatedAt: tN(round),
				Values: map[string]any{"email": fmt.Sprintf("user%d-%d@example.com", n, round), "score": int64(n), "amount": connector.Decimal(fmt.Sprintf("%d.%02d", n, round))}}
		}
		pages = append(pages, page)
	}
	return pages
}

// BenchmarkSinkUpsert upserts benchRows rows per iteration (new values each round).
func BenchmarkSinkUpsert(b *testing.B) {
	ctx := context.Background()
	dsn := benchDB(b)
	sink, err := NewSink(ctx, SinkConfig{Table: "bench", KeyColumn: "ext_id", Fields: []string{"email", "score", "amount"},
		SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000, DeleteMode: DeleteIgnore}, dsn, SinkOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		b.StopTimer()
		pages := benchPages(r)
		b.StartTimer()
		for _, page := range pages {
			if _, err := sink.Upsert(ctx, page); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRawCopyMerge is the baseline: COPY into a temp table and one INSERT ... ON
// CONFLICT per page, no per-record results.
func BenchmarkRawCopyMerge(b *testing.B) {
	ctx := context.Background()
	dsn := benchDB(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE s (ext_id text, email text, score bigint, amount numeric, u timestamptz) ON COMMIT DELETE ROWS`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		b.StopTimer()
		pages := benchPages(r)
		b.StartTimer()
		for _, page := range pages {
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			rows := make([][]any, len(page))
			for i, w := range page {
				rows[i] = []any{w.Key, w.Values["email"], w.Values["score"], string(w.Values["amount"].(connector.Decimal)), w.SourceUpdatedAt}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"s"}, []string{"ext_id", "email", "score", "amount", "u"}, pgx.CopyFromRows(rows)); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO bench SELECT ext_id, email, score, amount::numeric, u FROM s
				ON CONFLICT (ext_id) DO UPDATE SET email = EXCLUDED.email, score = EXCLUDED.score, amount = EXCLUDED.amount, source_updated_at = EXCLUDED.source_updated_at`); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchDB(b *testing.B) string {
	name := fmt.Sprintf("bench_%d", dbSeq.Add(1))
	if err := server.CreateDB(context.Background(), name); err != nil {
		b.Fatal(err)
	}
	dsn := server.DSN(name)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), benchDDL); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// BenchmarkSinkReupsert upserts benchRows unchanged rows per iteration into a table that
// holds them (a re-upsert after a checkpoint reset), merging each page directly ("direct":
// ON CONFLICT finds and locks every row) or leaving out the stored-as-staged rows first
// ("skip-unchanged", what the sink does after a mostly unchanged page).
func BenchmarkSinkReupsert(b *testing.B) {
	for _, skip := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "skip-unchanged"}[skip]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			sink, err := NewSink(ctx, SinkConfig{Table: "bench", KeyColumn: "ext_id", Fields: []string{"email", "score", "amount"},
				SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1000, DeleteMode: DeleteIgnore}, benchDB(b), SinkOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			pages := benchPages(0)
			for _, page := range pages {
				if _, err := sink.Upsert(ctx, page); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for r := 0; r < b.N; r++ {
				for _, page := range pages {
					sink.lastPage = pageOutcome{} // direct
					if skip {
						sink.lastPage = pageOutcome{staged: 1} // as after an unchanged page
					}
					res, err := sink.Upsert(ctx, page)
					if err != nil {
						b.Fatal(err)
					}
					if res[0].Outcome != connector.Unchanged {
						b.Fatalf("outcome %v, want unchanged", res[0].Outcome)
					}
				}
			}
		})
	}
}
