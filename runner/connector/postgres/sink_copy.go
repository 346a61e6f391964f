package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
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

// copyToStage copies the items into the stage table in tx: as one pre-encoded binary
// stream when every staged column is text, else through pgx's encoders.
func (s *Sink) copyToStage(ctx context.Context, tx pgx.Tx, items []*item) error {
	if s.qCopyText != "" {
		s.copyBuf = s.encodeCopy(s.copyBuf[:0], items)
		_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(s.copyBuf), s.qCopyText)
		if cap(s.copyBuf) > maxKeptCopyBuf {
			s.copyBuf = nil
		}
		return err
	}
	src := &copyRows{s: s, items: items, i: -1, row: make([]any, len(s.copyCols))}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, s.copyCols, src)
	return err
}

// maxKeptCopyBuf bounds the COPY buffer kept between batches.
const maxKeptCopyBuf = 4 << 20

// encodeCopy appends the items to buf as a binary COPY stream for the stage table, whose
// columns are then all text (see qCopyText): the key, the source updatedAt
// (microseconds since 2000-01-01 UTC) and each value in its text form, as the other path
// stages them. It spares pgx's per-value encoding.
func (s *Sink) encodeCopy(buf []byte, items []*item) []byte {
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension length
	appendText := func(buf []byte, str string) []byte {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(str)))
		return append(buf, str...)
	}
	for _, it := range items {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(s.copyCols)))
		buf = appendText(buf, it.rec.Key)
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(it.sua.UnixMicro()-pgEpochMicros))
		for n := range s.vals {
			str, ok := textForm(s.value(it, &s.vals[n]))
			if !ok {
				buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32) // -1: NULL
				continue
			}
			buf = appendText(buf, str)
		}
	}
	return binary.BigEndian.AppendUint16(buf, math.MaxUint16) // -1: end of data
}

// copyRows feeds COPY: one row per item, values in their native form for native columns
// and text form otherwise. The row slice is reused.
type copyRows struct {
	s     *Sink
	items []*item
	i     int
	row   []any
}

func (c *copyRows) Next() bool { c.i++; return c.i < len(c.items) }

func (c *copyRows) Values() ([]any, error) {
	it := c.items[c.i]
	c.row[0], c.row[1] = it.rec.Key, it.sua
	for n := range c.s.vals {
		v := &c.s.vals[n]
		c.row[n+2] = native(v.fam, c.s.value(it, v))
	}
	return c.row, nil
}

func (c *copyRows) Err() error { return nil }

// native converts a checked value to what pgx encodes for its staged column.
func native(fam family, v any) any {
	if v == nil {
		return nil
	}
	switch fam {
	case famInt, famBool:
		return v
	case famFloat:
		if n, ok := v.(int64); ok {
			return float64(n)
		}
		return v
	case famTime:
		return v.(time.Time).UTC().Truncate(time.Microsecond)
	case famJSON:
		return []byte(v.(connector.JSON))
	}
	if _, ok := v.(string); ok {
		return v // already boxed: no allocation
	}
	str, ok := textForm(v)
	if !ok {
		return nil
	}
	return str
}
