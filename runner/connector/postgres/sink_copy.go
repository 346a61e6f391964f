package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// ensureStage creates the stage table on conn unless conn already holds it. Its rows
// last until the end of the transaction (ON COMMIT DELETE ROWS).
func (s *Sink) ensureStage(ctx context.Context, conn *pgx.Conn) error {
	if s.staged[conn] {
		return nil
	}
	if _, err := conn.Exec(ctx, s.qStage); err != nil {
		return fmt.Errorf("create stage table %s: %w", stageTable, err)
	}
	s.staged[conn] = true
	return nil
}

// copyToStage copies the items into the stage table in tx as one binary COPY stream the
// sink encodes itself (stageStream), a chunk at a time as pgx sends it, so the stream never
// holds a second copy of the page. A value that cannot be encoded ends the COPY (its
// transaction is rolled back) and is returned as that record's error.
func (s *Sink) copyToStage(ctx context.Context, tx pgx.Tx, items []*item) error {
	cs := &stageStream{s: s, items: items, buf: s.copyBuf[:0]}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, cs, s.qCopy)
	if cs.err != nil {
		err = cs.err // the COPY failed because of it: the record's error, not PostgreSQL's echo
	}
	if cap(cs.buf) <= maxKeptCopyBuf {
		s.copyBuf = cs.buf[:0]
	}
	return err
}

// maxKeptCopyBuf bounds the COPY buffer kept between batches.
const maxKeptCopyBuf = 1 << 20

// stageStream is an io.Reader of the binary COPY stream of items for the stage table: the
// header, one row per item (appendCopyRow) and the trailer. Rows are encoded as they are
// read, about one read's worth at a time, so the stream never holds the whole batch.
type stageStream struct {
	s     *Sink
	items []*item
	next  int    // the first item not yet encoded
	buf   []byte // encoded bytes not yet read: buf[off:]
	off   int
	begun bool  // the header is encoded
	ended bool  // the trailer is encoded
	err   error // the encoding error that ended the stream
}

// Read fills p from the encoded rows, encoding more until p can be filled or every item
// is encoded. It returns io.EOF with the last bytes, and an encoding error (a
// *connector.RecordError) when a value cannot be encoded.
func (c *stageStream) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.off > 0 { // keep only what is not read yet, at the front
		c.buf, c.off = c.buf[:copy(c.buf, c.buf[c.off:])], 0
	}
	if !c.begun {
		c.buf = appendCopyHeader(c.buf)
		c.begun = true
	}
	for len(c.buf)-c.off < len(p) && !c.ended {
		if c.next == len(c.items) {
			c.buf = binary.BigEndian.AppendUint16(c.buf, math.MaxUint16) // -1: end of data
			c.ended = true
			break
		}
		var err error
		if c.buf, err = c.s.appendCopyRow(c.buf, c.items[c.next]); err != nil {
			c.err = err
			return 0, err
		}
		c.next++
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	if c.ended && c.off == len(c.buf) {
		return n, io.EOF
	}
	return n, nil
}

// appendCopyHeader appends the binary COPY header: signature, flags, no extension.
func appendCopyHeader(buf []byte) []byte {
	buf = append(buf, copySignature...)
	buf = binary.BigEndian.AppendUint32(buf, 0)  // flags
	return binary.BigEndian.AppendUint32(buf, 0) // header extension length
}

// appendCopyRow appends one item as a binary COPY row for the stage table: the key, the
// source updatedAt and each value in the binary form of its staged column
// (appendCopyValue). It spares pgx's per-value encoding and its lookup of the stage
// table's column types. A value of a Go type its column's family does not take (Sink.check
// refuses those before) is an error.
func (s *Sink) appendCopyRow(buf []byte, it *item) ([]byte, error) {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s.copyCols)))
	buf = appendCopyText(buf, it.rec.Key)
	buf = binary.BigEndian.AppendUint32(buf, 8)
	buf = binary.BigEndian.AppendUint64(buf, uint64(it.sua.UnixMicro()-pgEpochMicros))
	for n := range s.vals {
		v := &s.vals[n]
		var err error
		if buf, err = appendCopyValue(buf, v, s.value(it, v)); err != nil {
			return buf, &connector.RecordError{ID: it.rec.SourceID, Field: v.field, Reason: "could not encode for postgres", Detail: err.Error()}
		}
	}
	return buf, nil
}

// appendCopyText appends a text value: its length and its bytes.
func appendCopyText(buf []byte, str string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(str)))
	return append(buf, str...)
}

// copyNull is the length of a NULL field (-1).
const copyNull = math.MaxUint32

// pgEpochDays is 2000-01-01, PostgreSQL's date epoch, in days since the Unix epoch.
const pgEpochDays = 10957

// appendCopyValue appends val, a checked value of column v (Sink.check), as one field of
// a binary COPY row into its staged column: text for the text families (the column's type
// parses it after the COPY), else the binary form of the column's base type — bool, int2,
// int4, int8, float4, float8, timestamptz and timestamp (microseconds since 2000-01-01, a
// timestamp's wall time in UTC), date (days since 2000-01-01), json (its text) and jsonb
// (version 1 and its text). nil, and a nil JSON, are NULL.
func appendCopyValue(buf []byte, v *sinkColumn, val any) ([]byte, error) {
	if val == nil {
		return binary.BigEndian.AppendUint32(buf, copyNull), nil
	}
	switch v.fam {
	case famText, famString:
		str, ok := textForm(val)
		if !ok {
			return buf, fmt.Errorf("%T has no text form", val)
		}
		return appendCopyText(buf, str), nil
	case famBool:
		b, ok := val.(bool)
		if !ok {
			break
		}
		buf = binary.BigEndian.AppendUint32(buf, 1)
		if b {
			return append(buf, 1), nil
		}
		return append(buf, 0), nil
	case famInt:
		n, ok := val.(int64)
		if !ok {
			break
		}
		switch v.col.oid {
		case oidInt2:
			if n < math.MinInt16 || n > math.MaxInt16 {
				return buf, fmt.Errorf("%d out of range for type %s", n, v.col.full)
			}
			buf = binary.BigEndian.AppendUint32(buf, 2)
			return binary.BigEndian.AppendUint16(buf, uint16(n)), nil
		case oidInt4:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return buf, fmt.Errorf("%d out of range for type %s", n, v.col.full)
			}
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(n)), nil
		}
		buf = binary.BigEndian.AppendUint32(buf, 8)
		return binary.BigEndian.AppendUint64(buf, uint64(n)), nil
	case famFloat:
		var f float64
		switch x := val.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		default:
			return buf, fmt.Errorf("%T for column of type %s", val, v.col.full)
		}
		if v.col.oid == oidFloat4 {
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, math.Float32bits(float32(f))), nil
		}
		buf = binary.BigEndian.AppendUint32(buf, 8)
		return binary.BigEndian.AppendUint64(buf, math.Float64bits(f)), nil
	case famTime:
		t, ok := val.(time.Time)
		if !ok {
			break
		}
		t = t.UTC()
		if v.col.oid == oidDate {
			days := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()/86400 - pgEpochDays
			if days < math.MinInt32 || days > math.MaxInt32 {
				return buf, fmt.Errorf("%s out of range for type %s", t.Format(time.RFC3339), v.col.full)
			}
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(days))), nil
		}
		buf = binary.BigEndian.AppendUint32(buf, 8)
		return binary.BigEndian.AppendUint64(buf, uint64(t.Truncate(time.Microsecond).UnixMicro()-pgEpochMicros)), nil
	case famJSON:
		doc, ok := val.(connector.JSON)
		if !ok {
			break
		}
		if doc == nil {
			return binary.BigEndian.AppendUint32(buf, copyNull), nil
		}
		if v.col.oid == oidJSONB {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(doc)+1))
			buf = append(buf, 1) // the jsonb binary format's version
			return append(buf, doc...), nil
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(doc)))
		return append(buf, doc...), nil
	}
	return buf, fmt.Errorf("%T for column of type %s", val, v.col.full)
}
