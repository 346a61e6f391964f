package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// streamSink is a sink with a text and a bigint staged column, as setup builds them, for
// encoding COPY streams without a server.
func streamSink() *Sink {
	text := column{name: "note", oid: oidText, full: "text"}
	big := column{name: "n", oid: oidInt8, full: "bigint"}
	return &Sink{
		clock:    time.Now,
		vals:     []sinkColumn{{col: text, fam: familyOf(text), field: "note"}, {col: big, fam: familyOf(big), field: "n"}},
		copyCols: []string{"k", "u", "c0", "c1"},
	}
}

// streamItems are n items whose notes grow to longer than one read of the stream, so that
// rows straddle reads and one row is bigger than a read.
func streamItems(n int) []*item {
	items := make([]*item, n)
	for i := range items {
		note := strings.Repeat(fmt.Sprintf("%d;", i), 1+i%50)
		if i == n/2 {
			note = strings.Repeat("x", 200_000)
		}
		rec := &connector.WriteRecord{Key: fmt.Sprintf("k-%05d", i), SourceID: fmt.Sprint(i),
			Values: map[string]any{"note": note, "n": int64(i) * 7919}}
		items[i] = &item{idx: i, rec: rec, sua: time.Date(2026, 1, 2, 3, 4, 5, i*1000, time.UTC)}
	}
	return items
}

// TestStageStreamYieldsTheWholeStreamInBoundedMemory: the COPY stream read through
// stageStream in reads of any size is exactly the header, every row and the trailer, and
// the stream never holds more than one read and one row beyond it (not the whole batch).
func TestStageStreamYieldsTheWholeStreamInBoundedMemory(t *testing.T) {
	s := streamSink()
	items := streamItems(3000)
	want := appendCopyHeader(nil)
	biggest := 0
	for _, it := range items {
		before := len(want)
		var err error
		want, err = s.appendCopyRow(want, it)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		biggest = max(biggest, len(want)-before)
	}
	want = binary.BigEndian.AppendUint16(want, math.MaxUint16)

	for _, size := range []int{1, 7, 4096, 65531, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			g := NewWithT(t)
			cs := &stageStream{s: s, items: items}
			var got bytes.Buffer
			p := make([]byte, size)
			held := 0
			for reads := 0; ; reads++ {
				g.Expect(reads).To(BeNumerically("<", len(want)+1), "the stream ends")
				n, err := cs.Read(p)
				got.Write(p[:n])
				held = max(held, len(cs.buf))
				if err == io.EOF {
					break
				}
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(n).To(Equal(size), "every read but the last is full")
			}
			g.Expect(got.Len()).To(Equal(len(want)))
			g.Expect(bytes.Equal(got.Bytes(), want)).To(BeTrue(), "the stream read in pieces of %d bytes", size)
			g.Expect(held).To(BeNumerically("<=", size+biggest), "the stream holds one read and one row at most, not the batch of %d bytes", len(want))
			n, err := cs.Read(p)
			g.Expect(n).To(BeZero())
			g.Expect(err).To(Equal(io.EOF), "read again after the end")
		})
	}
}

// TestStageStreamEndsOnAValueItCannotEncode: a value the staged column's type does not
// take ends the stream with that record's error, on this read and every later one.
func TestStageStreamEndsOnAValueItCannotEncode(t *testing.T) {
	g := NewWithT(t)
	items := streamItems(2000)
	items[1500].rec.Values["n"] = "not a number"
	cs := &stageStream{s: streamSink(), items: items}
	p := make([]byte, 4096)
	var err error
	for reads := 0; err == nil && reads < 10_000; reads++ {
		_, err = cs.Read(p)
	}
	var rerr *connector.RecordError
	g.Expect(errors.As(err, &rerr)).To(BeTrue(), "got %v", err)
	g.Expect(rerr.ID).To(Equal("1500"))
	g.Expect(rerr.Field).To(Equal("n"))
	_, again := cs.Read(p)
	g.Expect(again).To(Equal(err))
}

// TestCopyStreamOfManyReadsLandsWhole: a batch whose COPY stream spans many reads (30,000
// rows, one value of 200 kB) lands whole through the COPY path, and a rerun of it changes
// nothing.
func TestCopyStreamOfManyReadsLandsWhole(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, `CREATE TABLE streamed (ext_id text PRIMARY KEY, note text, n bigint, source_updated_at timestamptz)`)
	sink, err := NewSink(ctx, SinkConfig{Table: "streamed", KeyColumn: "ext_id", Fields: []string{"note", "n"},
		SourceUpdatedAtColumn: "source_updated_at", CopyThreshold: 1, DeleteMode: DeleteIgnore}, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer sink.Close()
	items := streamItems(30_000)
	batch := make([]connector.WriteRecord, len(items))
	var notes, sum int64
	for i, it := range items {
		batch[i] = *it.rec
		batch[i].SourceUpdatedAt = it.sua
		notes += int64(len(it.rec.Values["note"].(string)))
		sum += it.rec.Values["n"].(int64)
	}
	for run, want := range []connector.Outcome{connector.Written, connector.Unchanged} {
		res, err := sink.Upsert(ctx, batch)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res).To(HaveLen(len(batch)))
		for i, r := range res {
			g.Expect(r.Outcome).To(Equal(want), "run %d record %d", run, i)
		}
	}
	g.Expect(sink.staged).To(HaveLen(1), "written through COPY")

	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	var rows, gotNotes, gotSum int64
	g.Expect(conn.QueryRow(ctx, `SELECT count(*), sum(length(note)), sum(n) FROM streamed`).Scan(&rows, &gotNotes, &gotSum)).To(Succeed())
	g.Expect([]int64{rows, gotNotes, gotSum}).To(Equal([]int64{int64(len(batch)), notes, sum}))
	var note string
	g.Expect(conn.QueryRow(ctx, `SELECT note FROM streamed WHERE ext_id = 'k-15000'`).Scan(&note)).To(Succeed())
	g.Expect(note).To(Equal(strings.Repeat("x", 200_000)))
}
