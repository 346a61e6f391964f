package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// ScanHashed (connector.HashScanner) reads the rows ScanPage reads, by one statement
// streamed across calls: a call that continues where the last one ended reads on, any
// other starts a new statement after its id. Each row's digest is SHA-256 (truncated to
// 128 bits) of a seed digest and the row's column bytes as received (length-prefixed,
// NULL marked); the seed digest covers the caller's seed, the table, every column's name,
// type and wire format, and the declared time zone, so that equal digests mean equal
// bytes of equal columns, which decode (Record) to equal records. A page keeps its rows'
// bytes until it is dropped, and decodes a record from them on demand.

// hashedScan is ScanHashed's state: its statements and the open one, if any.
type hashedScan struct {
	qFirst, qAfter string // every row by id; the rows with an id after $1, by id

	mu   sync.Mutex
	open *hashedStream

	decodeMu sync.Mutex  // held while a page decodes a record with tm and vals
	tm       *pgtype.Map // created at the first decode
	vals     []scanValue // one per column
	one      []map[string]any
}

// hashedStream is one open statement of ScanHashed.
type hashedStream struct {
	ctx  context.Context
	rows pgx.Rows
	seed string
	last string // the id of the last row handed out
	// seedSum is the digest every row's digest starts from.
	seedSum [32]byte
	fds     []pgconn.FieldDescription
	ended   bool
}

// hashFormat tags the row digests of ScanHashed: changing how rows are digested changes
// it, so that no digest of one form equals one of another.
const hashFormat = "checkpointed/postgres-row-digest/v1"

// ScanHashed returns at most limit rows with an id strictly after afterID, by id, each as
// its id and digest (see hashedScan).
func (s *Source) ScanHashed(ctx context.Context, afterID string, limit int, seed string) (connector.HashedPage, error) {
	if limit <= 0 {
		return connector.HashedPage{}, fmt.Errorf("scan page after id %q: limit %d must be positive", afterID, limit)
	}
	h := &s.hashed
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.open
	if st == nil || st.ctx != ctx || st.seed != seed || st.last != afterID || st.ended {
		s.endScanLocked()
		var err error
		if st, err = s.openHashed(ctx, afterID, seed); err != nil {
			return connector.HashedPage{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, err)
		}
		h.open = st
	}
	page, err := s.readHashed(st, limit)
	if err != nil {
		s.endScanLocked()
		return connector.HashedPage{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, err)
	}
	return page, nil
}

// EndScan closes ScanHashed's open statement, if any.
func (s *Source) EndScan() {
	s.hashed.mu.Lock()
	defer s.hashed.mu.Unlock()
	s.endScanLocked()
}

func (s *Source) endScanLocked() {
	if st := s.hashed.open; st != nil {
		st.rows.Close()
		s.hashed.open = nil
	}
}

// openHashed starts the statement of the rows after afterID ("": from the first).
func (s *Source) openHashed(ctx context.Context, afterID, seed string) (*hashedStream, error) {
	var rows pgx.Rows
	var err error
	if afterID == "" {
		rows, err = s.pool.Query(ctx, s.hashed.qFirst)
	} else {
		id, perr := s.idArg(afterID)
		if perr != nil {
			return nil, perr
		}
		rows, err = s.pool.Query(ctx, s.hashed.qAfter, id)
	}
	if err != nil {
		return nil, err
	}
	fds := rows.FieldDescriptions()
	if len(fds) != len(s.cols) {
		rows.Close()
		return nil, fmt.Errorf("%d columns read, want %d", len(fds), len(s.cols))
	}
	st := &hashedStream{ctx: ctx, rows: rows, seed: seed, last: afterID, fds: slicesClone(fds)}
	d := sha256.New()
	put := func(b []byte) {
		var n [binary.MaxVarintLen64]byte
		d.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		d.Write(b)
	}
	put([]byte(hashFormat))
	put([]byte(seed))
	put([]byte(s.rel.name))
	for i, c := range s.cols {
		put([]byte(c.name))
		put([]byte(strconv.FormatUint(uint64(c.oid), 10) + "/" + strconv.FormatUint(uint64(fds[i].DataTypeOID), 10) +
			"/" + strconv.Itoa(int(fds[i].Format))))
	}
	if s.zone != nil {
		put([]byte(s.zone.String()))
	}
	put([]byte(strconv.Itoa(s.idIdx)))
	d.Sum(st.seedSum[:0])
	return st, nil
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// readHashed reads up to limit rows of the open statement into a page.
func (s *Source) readHashed(st *hashedStream, limit int) (connector.HashedPage, error) {
	capacity := min(limit, 10000)
	p := &hashedRows{src: s, fds: st.fds, ends: make([]int, 0, capacity), buf: make([]byte, 0, 64*capacity)}
	page := connector.HashedPage{Sums: make([][16]byte, 0, capacity)}
	var scratch []byte
	// The page's ids are made as one string (its substrings), not one string each.
	ids := make([]byte, 0, 8*capacity)
	idEnds := make([]int32, 0, capacity)
	for len(page.Sums) < limit {
		if !st.rows.Next() {
			if err := st.rows.Err(); err != nil {
				return connector.HashedPage{}, err
			}
			st.ended = true
			break
		}
		raw := st.rows.RawValues()
		start := len(p.buf)
		for _, v := range raw {
			if v == nil {
				p.buf = append(p.buf, 0)
				continue
			}
			p.buf = binary.AppendUvarint(p.buf, uint64(len(v))+1)
			p.buf = append(p.buf, v...)
		}
		p.ends = append(p.ends, len(p.buf))
		var err error
		if ids, err = s.appendRawID(ids, st.fds[s.idIdx], raw[s.idIdx]); err != nil {
			return connector.HashedPage{}, err
		}
		idEnds = append(idEnds, int32(len(ids)))
		scratch = append(append(scratch[:0], st.seedSum[:]...), p.buf[start:]...)
		sum := sha256.Sum256(scratch)
		page.Sums = append(page.Sums, [16]byte(sum[:16]))
	}
	all := string(ids)
	page.IDs = make([]string, len(idEnds))
	from := int32(0)
	for i, end := range idEnds {
		page.IDs[i] = all[from:end]
		from = end
	}
	if n := len(page.IDs); n > 0 {
		st.last = page.IDs[n-1]
	}
	if !st.ended {
		// Whether anything follows is known only by reading it; the statement reads on
		// at the next call, so a full page says More.
		page.More = true
	}
	page.Record = p.record
	return page, nil
}

// appendRawID appends the id of a row, from the id column's bytes as received, to buf.
func (s *Source) appendRawID(buf []byte, fd pgconn.FieldDescription, v []byte) ([]byte, error) {
	if v == nil {
		return buf, fmt.Errorf("row with NULL id column %q", s.cols[s.idIdx].name)
	}
	if fd.Format == pgx.TextFormatCode {
		return append(buf, v...), nil
	}
	switch fd.DataTypeOID {
	case oidInt8:
		if len(v) == 8 {
			return strconv.AppendInt(buf, int64(binary.BigEndian.Uint64(v)), 10), nil
		}
	case oidInt4:
		if len(v) == 4 {
			return strconv.AppendInt(buf, int64(int32(binary.BigEndian.Uint32(v))), 10), nil
		}
	case oidInt2:
		if len(v) == 2 {
			return strconv.AppendInt(buf, int64(int16(binary.BigEndian.Uint16(v))), 10), nil
		}
	case oidText, oidVarchar:
		return append(buf, v...), nil
	}
	return buf, fmt.Errorf("id column %q: cannot read type %d in format %d", s.cols[s.idIdx].name, fd.DataTypeOID, fd.Format)
}

// hashedRows are the bytes of a page's rows: row i's columns, each as uvarint(length+1)
// (0: NULL) and the bytes, end at ends[i].
type hashedRows struct {
	src  *Source
	fds  []pgconn.FieldDescription
	buf  []byte
	ends []int
}

// record decodes row i as collect does.
func (p *hashedRows) record(i int) (connector.Record, error) {
	if i < 0 || i >= len(p.ends) {
		return connector.Record{}, fmt.Errorf("record %d of a page of %d", i, len(p.ends))
	}
	s := p.src
	s.hashed.decodeMu.Lock()
	defer s.hashed.decodeMu.Unlock()
	if s.hashed.tm == nil {
		s.hashed.tm = pgtype.NewMap()
	}
	tm := s.hashed.tm
	if len(s.hashed.vals) != len(s.cols) {
		s.hashed.vals = make([]scanValue, len(s.cols))
	}
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	b := p.buf[start:p.ends[i]]
	// A map handed back (Recycle) when there is one, as collect does.
	var fields map[string]any
	if s.hashed.one = s.takeMaps(s.hashed.one[:0], 1); len(s.hashed.one) > 0 {
		fields, s.hashed.one[0] = s.hashed.one[0], nil
	} else {
		fields = make(map[string]any, len(s.cols))
	}
	rec := connector.Record{Fields: fields}
	for k, c := range s.cols {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w)+1 < n {
			return connector.Record{}, errors.New("corrupt page bytes")
		}
		b = b[w:]
		var raw []byte
		if n > 0 {
			raw, b = b[:n-1], b[n-1:]
		}
		v := &s.hashed.vals[k]
		if err := tm.Scan(p.fds[k].DataTypeOID, p.fds[k].Format, raw, v.target(c)); err != nil {
			return connector.Record{}, fmt.Errorf("column %q: %w", c.name, err)
		}
		val, err := v.value(s, c)
		if err != nil {
			return connector.Record{}, fmt.Errorf("column %q: %w", c.name, err)
		}
		rec.Fields[c.name] = val
	}
	id, err := s.recordID(rec.Fields)
	if err != nil {
		return connector.Record{}, err
	}
	rec.ID = id
	return rec, nil
}

var _ connector.HashScanner = (*Source)(nil)
