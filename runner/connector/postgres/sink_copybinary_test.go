package postgres

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// typedTable has a staged column of every binary-encoded family (Sink.appendCopyRow), a
// domain over one of them and a soft-delete column.
const typedTable = `CREATE DOMAIN small_pos AS smallint CHECK (VALUE >= 0);
CREATE TABLE typed (
	ext_id text PRIMARY KEY,
	flag boolean,
	i2 smallint,
	i4 integer,
	i8 bigint,
	pos small_pos,
	f4 real,
	f8 double precision,
	at timestamptz,
	wall timestamp(3),
	day date,
	doc json,
	docb jsonb,
	note text,
	deleted_at timestamptz,
	source_updated_at timestamptz NOT NULL)`

// TestBinaryCopyAgreesWithInsert runs the same batches through the insert path (values
// in text form, cast by PostgreSQL) and the sink's own binary COPY encoding and expects
// the same results and the same table, for every binary-encoded type: NULLs, extremes,
// times before 1970 and 2000, NaN and infinities, ints in float columns, rejected rows
// (a domain's check, in one batch: PostgreSQL's refusal sends a batch to the insert path),
// soft deletes, stale and unchanged replays.
func TestBinaryCopyAgreesWithInsert(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	days := []time.Time{
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 19, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	floats := []float64{0, -1.5, math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -0.0078125}
	var batches [][]connector.WriteRecord
	for b := 0; b < 3; b++ {
		var batch []connector.WriteRecord
		for i := 0; i < 42; i++ {
			k := (i*5 + b*11) % 61
			n := int64(i*b - 20)
			at := time.Date(1960+i, time.Month(1+i%12), 1+i%28, i%24, i, i, (i*7919%1000000)*1000, time.FixedZone("x", 3600*(i%5)))
			rec := connector.WriteRecord{Key: fmt.Sprintf("k-%02d", k), SourceID: fmt.Sprint(k),
				SourceUpdatedAt: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC).Add(time.Duration((i+b*5)%13) * 1500 * time.Microsecond),
				Values: map[string]any{
					"flag": i%3 == 0,
					"i2":   n * 1000,
					"i4":   n * 100_000_000 % math.MaxInt32,
					"i8":   n * math.MaxInt64 / 41,
					"pos":  int64(i),
					"f4":   float64(float32(floats[i%len(floats)])),
					"f8":   floats[(i+b)%len(floats)],
					"at":   at,
					"wall": at.Truncate(time.Millisecond).UTC(),
					"day":  days[(i+b)%len(days)],
					"doc":  connector.JSON(fmt.Sprintf(`{"n": %d, "s": "é\u00e9", "a": [1, 2.50]}`, i)),
					"docb": connector.JSON(fmt.Sprintf(`{"b": %d, "a": {"z": null}, "t": "ü"}`, i*b)),
					"note": fmt.Sprintf("note %d", i),
				}}
			switch i % 9 {
			case 1:
				for f := range rec.Values {
					rec.Values[f] = nil
				}
			case 2:
				if b == 1 { // only this batch: a batch with a rejected row is written again without COPY
					rec.Values["pos"] = int64(-1) // the domain's check: rejected
				}
			case 3:
				rec.Values["f8"], rec.Values["f4"] = int64(1<<53), int64(-(1 << 24))
			case 4:
				rec.Values["i2"], rec.Values["i4"], rec.Values["i8"] = int64(math.MinInt16), int64(math.MaxInt32), int64(math.MinInt64)
			case 5:
				rec.Deleted = true
			case 6:
				rec.Values["i2"] = int64(math.MaxInt16 + 1) // out of range: refused before writing
			}
			batch = append(batch, rec)
		}
		batches = append(batches, batch)
	}
	batches = append(batches, batches[2], batches[0]) // unchanged and stale replays

	fields := []string{"flag", "i2", "i4", "i8", "pos", "f4", "f8", "at", "wall", "day", "doc", "docb", "note"}
	var results [2][][]connector.Result
	var tables [2][]string
	for p, thr := range []int{1_000_000, 1} {
		dsn := newDB(t, typedTable)
		sink, err := NewSink(ctx, SinkConfig{Table: "typed", KeyColumn: "ext_id", Fields: fields,
			SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: thr, DeleteMode: DeleteSoft, DeleteColumn: "deleted_at"}, dsn, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer sink.Close()
		for _, batch := range batches {
			res, err := sink.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())
			results[p] = append(results[p], res)
		}
		conn, err := pgx.Connect(ctx, dsn)
		g.Expect(err).NotTo(HaveOccurred())
		rows, err := conn.Query(ctx, `SELECT t::text FROM typed t ORDER BY ext_id`)
		g.Expect(err).NotTo(HaveOccurred())
		tables[p], err = pgx.CollectRows(rows, pgx.RowTo[string])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(conn.Close(ctx)).To(Succeed())
		g.Expect(sink.staged).To(HaveLen(p), "COPY used only with threshold 1")
	}
	g.Expect(tables[1]).To(Equal(tables[0]))
	g.Expect(len(tables[0])).To(BeNumerically(">", 40))
	seen := map[connector.Outcome]bool{}
	for b := range results[0] {
		g.Expect(outcomes(results[1][b])).To(Equal(outcomes(results[0][b])), "batch %d", b)
		for i, r := range results[0][b] {
			seen[r.Outcome] = true
			if r.Outcome == connector.Failed {
				g.Expect(results[1][b][i].Err).To(MatchError(r.Err.Error()), "batch %d record %d", b, i)
			}
		}
	}
	g.Expect(seen).To(HaveLen(4), "every outcome occurred")
	g.Expect(tables[0]).To(ContainElement(ContainSubstring("NaN")))
	g.Expect(tables[0]).To(ContainElement(ContainSubstring("-Infinity")))
	g.Expect(tables[0]).To(ContainElement(ContainSubstring("0001-01-01")))
}

// TestCopyValueRefusesOtherTypes: a value of a Go type its column's family does not take
// never reaches COPY as something else (Sink.check refuses it first; the encoder too).
func TestCopyValueRefusesOtherTypes(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		col column
		val any
	}{
		{column{oid: oidBool, full: "boolean"}, "true"},
		{column{oid: oidInt4, full: "integer"}, 1.0},
		{column{oid: oidInt2, full: "smallint"}, int64(1 << 20)},
		{column{oid: oidInt4, full: "integer"}, int64(1 << 40)},
		{column{oid: oidFloat8, full: "double precision"}, "1.5"},
		{column{oid: oidTimestamptz, full: "timestamp with time zone"}, "2026-01-01"},
		{column{oid: oidJSONB, full: "jsonb"}, `{}`},
		{column{oid: oidText, full: "text"}, []string{"a"}},
	} {
		v := sinkColumn{col: tc.col, fam: familyOf(tc.col)}
		_, err := appendCopyValue(nil, &v, tc.val)
		g.Expect(err).To(HaveOccurred(), "%T into %s", tc.val, tc.col.full)
	}
}
