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

// invoicesTable has only columns staged as text (Sink.appendCopyRow writes their text forms).
const invoicesTable = `CREATE TABLE invoices (
	ext_id text PRIMARY KEY,
	customer varchar(8),
	code char(3),
	ref uuid,
	total numeric(12,2) CHECK (total >= 0),
	note text,
	source_updated_at timestamptz NOT NULL)`

// TestTextCopyAgreesWithInsert runs the same batches through the insert path and the
// self-encoded COPY path and expects the same results and the same table: NULLs, values
// of other Go types in text columns, unicode, rejected rows, stale and unchanged replays.
func TestTextCopyAgreesWithInsert(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var batches [][]connector.WriteRecord
	for b := 0; b < 3; b++ {
		var batch []connector.WriteRecord
		for i := 0; i < 40; i++ {
			k := (i*3 + b*7) % 53
			rec := connector.WriteRecord{Key: fmt.Sprintf("inv-%02d-é", k), SourceID: fmt.Sprint(k),
				SourceUpdatedAt: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC).Add(time.Duration((i+b*5)%13) * 1500 * time.Microsecond),
				Values: map[string]any{
					"customer": fmt.Sprintf("c%d", (i+b)%5),
					"code":     "ab",
					"ref":      fmt.Sprintf("a0eebc99-9c0b-4ef8-bb6d-6bb9bd38%04d", k),
					"total":    connector.Decimal(fmt.Sprintf("%d.%d", i, b)),
					"note":     int64(i * b),
				}}
			switch i % 7 {
			case 1:
				rec.Values["note"], rec.Values["ref"] = nil, nil
			case 2:
				rec.Values["customer"] = "far too long" // varchar(8): rejected
			case 3:
				if b == 1 { // only this batch: a batch with a rejected row is written again without COPY
					rec.Values["total"] = connector.Decimal("-1") // check constraint: rejected
				}
			case 4:
				rec.Values["note"] = true
			case 5:
				delete(rec.Values, "code")
			}
			batch = append(batch, rec)
		}
		batches = append(batches, batch)
	}
	batches = append(batches, batches[2], batches[0]) // unchanged and stale replays

	var results [2][][]connector.Outcome
	var tables [2][]string
	for p, thr := range []int{1_000_000, 1} {
		dsn := newDB(t, invoicesTable)
		sink, err := NewSink(ctx, SinkConfig{Table: "invoices", KeyColumn: "ext_id", Fields: []string{"customer", "code", "ref", "total", "note"},
			SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: thr, DeleteMode: DeleteIgnore}, dsn, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer sink.Close()
		for _, batch := range batches {
			res, err := sink.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())
			results[p] = append(results[p], outcomes(res))
		}
		conn, err := pgx.Connect(ctx, dsn)
		g.Expect(err).NotTo(HaveOccurred())
		rows, err := conn.Query(ctx, `SELECT i::text FROM invoices i ORDER BY ext_id`)
		g.Expect(err).NotTo(HaveOccurred())
		tables[p], err = pgx.CollectRows(rows, pgx.RowTo[string])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(conn.Close(ctx)).To(Succeed())
		g.Expect(sink.staged).To(HaveLen(p), "COPY used only with threshold 1")
	}
	g.Expect(results[1]).To(Equal(results[0]))
	g.Expect(tables[1]).To(Equal(tables[0]))
	g.Expect(tables[0]).NotTo(BeEmpty())

	seen := map[connector.Outcome]bool{}
	for _, b := range results[0] {
		for _, o := range b {
			seen[o] = true
		}
	}
	g.Expect(seen).To(HaveLen(4), "every outcome occurred")
}
