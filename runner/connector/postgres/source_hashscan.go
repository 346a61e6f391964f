package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// ScanHashed (connector.HashScanner) reads the rows ScanPage reads, by one statement
// streamed across calls: a call that continues where the last one ended reads on, any
// other starts a new statement after its id. Each row's digest is SHA-256 (truncated to
// 128 bits) of the first seedPrefix bytes of a seed digest and the row's column bytes as
// received (length-prefixed, NULL marked), so that a row of up to 39 such bytes takes one
// SHA-256 block; the seed digest covers the caller's seed, the table, every column's name,
// type and wire format, and the declared time zone, so that equal digests mean equal
// bytes of equal columns, which decode (Record) to equal records. A page keeps its rows'
// bytes until it is dropped, and decodes a record from them on demand.
//
// The statement is read as one binary COPY (copyBinary) by a goroutine of its own, which
// fills a page only when a call asks for one (no page is read ahead of the caller): a
// COPY sends no protocol message per column and is decoded where it lies. The bytes
// digested are the very bytes a query's result row would carry: every column is selected
// either in a type pgx reads in binary (whose binary COPY form is that same binary form)
// or as text (whose binary form is its text), and the wire format recorded in the seed is
// the one pgx would ask for (hashFormats), so that digests equal those of earlier runners,
// which read the rows as query results.

// hashedScan is ScanHashed's state: its statements and the open one, if any.
type hashedScan struct {
	qFirst, qAfter string // every row by id; the rows with an id after $1, by id

	mu   sync.Mutex
	open *hashedStream
	// fds describe the statement's columns as a query's result would (hashFormats); set
	// at the first statement.
	fds []pgconn.FieldDescription
	// free holds the buffers of pages released (HashedPage.Release), for later pages.
	free chan *hashedFill

	decodeMu sync.Mutex  // held while a page decodes a record with tm and vals
	tm       *pgtype.Map // created at the first decode
	vals     []scanValue // one per column
	one      []map[string]any
}

// hashedStream is one open statement of ScanHashed, read by its own goroutine (read).
type hashedStream struct {
	ctx  context.Context // the callers' context
	seed string
	last string // the id of the last row handed out
	// seedSum is the digest every row's digest starts from.
	seedSum [32]byte
	fds     []pgconn.FieldDescription
	ended   bool // the last page was handed out

	asks  chan int          // a page's limit: ScanHashed asks for a page
	pages chan hashedResult // read's answers, one per ask, and the last page
	stop  context.CancelFunc
	done  chan struct{} // closed once read returned

	// read's own state.
	src     *Source
	idFD    pgconn.FieldDescription
	fill    *hashedFill // the page being filled; nil: none asked for
	scratch []byte      // seedSum's first seedPrefix bytes and the row being digested
	bufHint int         // the bytes of the last page's rows
}

// hashedResult is a page of the stream, the last one (ended), or the statement's error.
type hashedResult struct {
	page  connector.HashedPage
	ended bool
	err   error
}

// hashedFill is a page being filled, and its buffers once handed over.
type hashedFill struct {
	limit  int
	rows   *hashedRows
	sums   [][16]byte
	ids    []byte // the page's ids, one after the other
	idEnds []int32
	idList []string // the page's ids, substrings of one string
	// gen counts the page's releases (HashedPage.Release): a page handed over decodes
	// records only while gen is the one it was handed over with.
	gen atomic.Uint64
}

// Bounds of the page buffers kept for reuse: a few pages (the engine holds about three),
// none whose rows' bytes grew past maxKeptPageBytes.
const (
	keptPages        = 4
	maxKeptPageBytes = 8 << 20
)

// hashFormat tags the row digests of ScanHashed: changing how rows are digested changes
// it, so that no digest of one form equals one of another.
const hashFormat = "checkpointed/postgres-row-digest/v2"

// seedPrefix is how much of the seed digest starts each row's digest (128 bits).
const seedPrefix = 16

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
	st.asks <- limit // room for one: every earlier ask was answered
	var r hashedResult
	select {
	case r = <-st.pages:
	case <-st.done: // read returned: its last answer, if any, is waiting
		select {
		case r = <-st.pages:
		default:
			r.err = fmt.Errorf("statement ended: %w", context.Cause(ctx))
		}
	}
	if r.err != nil {
		s.endScanLocked()
		return connector.HashedPage{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, r.err)
	}
	page := r.page
	if n := len(page.IDs); n > 0 {
		st.last = page.IDs[n-1]
	}
	st.ended = r.ended
	// Whether anything follows a full page is known only by reading it: the statement
	// reads on at the next call, so a page that is not the last says More.
	page.More = !r.ended
	return page, nil
}

// EndScan closes ScanHashed's open statement, if any.
func (s *Source) EndScan() {
	s.hashed.mu.Lock()
	defer s.hashed.mu.Unlock()
	s.endScanLocked()
}

// endScanLocked stops the open statement's goroutine, if any, and waits for it: a COPY
// stopped before its end closes its connection (the pool drops it).
func (s *Source) endScanLocked() {
	if st := s.hashed.open; st != nil {
		st.stop()
		<-st.done
		s.hashed.open = nil
	}
}

// openHashed starts the statement of the rows after afterID ("": from the first) in its
// own goroutine.
func (s *Source) openHashed(ctx context.Context, afterID, seed string) (*hashedStream, error) {
	q, err := s.hashedQuery(afterID)
	if err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	fds := s.hashed.fds
	if fds == nil {
		if fds, err = hashFormats(ctx, conn.Conn(), s.hashed.qFirst); err != nil {
			conn.Release()
			return nil, err
		}
		s.hashed.fds = fds
	}
	if len(fds) != len(s.cols) {
		conn.Release()
		return nil, fmt.Errorf("%d columns read, want %d", len(fds), len(s.cols))
	}
	if s.hashed.free == nil {
		s.hashed.free = make(chan *hashedFill, keptPages)
	}
	rctx, stop := context.WithCancel(ctx)
	st := &hashedStream{ctx: ctx, seed: seed, last: afterID, fds: fds, src: s, idFD: fds[s.idIdx],
		asks: make(chan int, 1), pages: make(chan hashedResult, 1), stop: stop, done: make(chan struct{})}
	st.seedSum = s.hashSeed(seed, fds)
	st.scratch = append(make([]byte, 0, 256), st.seedSum[:seedPrefix]...)
	go st.read(rctx, conn, q)
	return st, nil
}

// hashSeed is the digest every row's digest starts from (see hashedScan).
func (s *Source) hashSeed(seed string, fds []pgconn.FieldDescription) [32]byte {
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
	var sum [32]byte
	d.Sum(sum[:0])
	return sum
}

// hashFormats describes query's result columns as a query's result rows carry them: the
// type PostgreSQL describes and the wire format pgx asks for, by type. A column pgx would
// read as text must be of type text, whose binary COPY form is its text: any other could
// be digested from other bytes than its result rows'.
func hashFormats(ctx context.Context, conn *pgx.Conn, query string) ([]pgconn.FieldDescription, error) {
	sd, err := conn.PgConn().Prepare(ctx, "", query, nil)
	if err != nil {
		return nil, fmt.Errorf("describe the scan: %w", err)
	}
	fds := slices.Clone(sd.Fields)
	for i := range fds {
		fds[i].Format = conn.TypeMap().FormatCodeForOID(fds[i].DataTypeOID)
		if fds[i].Format == pgx.TextFormatCode && fds[i].DataTypeOID != oidText {
			return nil, fmt.Errorf("column %q of type %d is read as text: it cannot be digested from a binary COPY", fds[i].Name, fds[i].DataTypeOID)
		}
	}
	return fds, nil
}

// hashedQuery is the statement of the rows after afterID ("": from the first), by id, as
// a COPY takes it: the id as a literal (a COPY takes no parameters).
func (s *Source) hashedQuery(afterID string) (string, error) {
	if afterID == "" {
		return s.hashed.qFirst, nil
	}
	idCol := quote(s.cols[s.idIdx].name)
	idOrder := idCol
	var cond string
	switch s.ids {
	case idInt:
		id, err := s.idArg(afterID)
		if err != nil {
			return "", err
		}
		cond = fmt.Sprintf("%s > '%d'::int8", idCol, id)
	case idText:
		idOrder += ` COLLATE "C"`
		cond = fmt.Sprintf(`%s COLLATE "C" > %s::text`, idCol, quoteLiteral(afterID))
	case idUUID:
		cond = fmt.Sprintf("%s > %s::uuid", idCol, quoteLiteral(afterID))
	default:
		return "", fmt.Errorf("id kind %d cannot be scanned", s.ids)
	}
	order := " ORDER BY " + idOrder
	sel, ok := strings.CutSuffix(s.hashed.qFirst, order)
	if !ok {
		return "", fmt.Errorf("scan statement %q does not end with %q", s.hashed.qFirst, order)
	}
	return sel + " WHERE " + cond + order, nil
}

// read runs the statement as a binary COPY and fills the pages asked for; it hands over
// the last page (possibly empty) with the statement's error, if any. It returns once
// the COPY ended, or once ctx is done (stop).
func (st *hashedStream) read(ctx context.Context, conn *pgxpool.Conn, q string) {
	defer close(st.done)
	_, err := copyBinary(ctx, conn.Conn().PgConn(), q, func(f [][]byte) error { return st.row(ctx, f) })
	if err != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
	}
	conn.Release()
	if ctx.Err() != nil && st.ctx.Err() == nil {
		return // stopped (EndScan): nobody asks any more
	}
	r := hashedResult{ended: true, err: err}
	if err == nil {
		f := st.fill
		if f == nil {
			f = st.newFill(0)
		}
		r.page = f.page()
	}
	st.fill = nil
	select {
	case st.pages <- r:
	case <-ctx.Done():
	}
}

// row adds a row of the COPY to the page being filled, first waiting for a page to be
// asked for; it hands over the page once it is full.
func (st *hashedStream) row(ctx context.Context, f [][]byte) error {
	if st.fill == nil {
		select {
		case limit := <-st.asks:
			st.fill = st.newFill(limit)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if len(f) != len(st.fds) {
		return fmt.Errorf("COPY row has %d columns, want %d", len(f), len(st.fds))
	}
	p := st.fill
	// The row's bytes, after the seed's prefix in scratch: digested there, then kept by
	// the page.
	b := st.scratch[:seedPrefix]
	for _, v := range f {
		if v == nil {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(v))+1)
		b = append(b, v...)
	}
	st.scratch = b
	sum := sha256.Sum256(b)
	p.sums = append(p.sums, [16]byte(sum[:16]))
	p.rows.buf = append(p.rows.buf, b[seedPrefix:]...)
	p.rows.ends = append(p.rows.ends, len(p.rows.buf))
	var err error
	if p.ids, err = st.src.appendRawID(p.ids, st.idFD, f[st.src.idIdx]); err != nil {
		return err
	}
	p.idEnds = append(p.idEnds, int32(len(p.ids)))
	if len(p.sums) == p.limit {
		st.bufHint = len(p.rows.buf)
		st.fill = nil
		select {
		case st.pages <- hashedResult{page: p.page()}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// newFill starts a page of at most limit rows: the buffers of a page released, or new
// ones sized after the last page.
func (st *hashedStream) newFill(limit int) *hashedFill {
	select {
	case f := <-st.src.hashed.free:
		f.limit, f.rows.fds = limit, st.fds
		f.rows.buf, f.rows.ends = f.rows.buf[:0], f.rows.ends[:0]
		f.sums, f.ids, f.idEnds = f.sums[:0], f.ids[:0], f.idEnds[:0]
		return f
	default:
	}
	capacity := min(limit, 10000)
	bufCap := 64 * capacity
	if st.bufHint > 0 {
		bufCap = min(st.bufHint+st.bufHint/8, 1<<26)
	}
	return &hashedFill{
		limit:  limit,
		rows:   &hashedRows{src: st.src, fds: st.fds, ends: make([]int, 0, capacity), buf: make([]byte, 0, bufCap)},
		sums:   make([][16]byte, 0, capacity),
		ids:    make([]byte, 0, 8*capacity),
		idEnds: make([]int32, 0, capacity),
	}
}

// page hands over the rows filled: the page's ids are made as one string (its
// substrings), not one string each.
func (f *hashedFill) page() connector.HashedPage {
	all := string(f.ids)
	clear(f.idList) // no id of a page released stays named
	ids := slices.Grow(f.idList[:0], len(f.idEnds))[:len(f.idEnds)]
	f.idList = ids
	from := int32(0)
	for i, end := range f.idEnds {
		ids[i] = all[from:end]
		from = end
	}
	gen := f.gen.Load()
	record := func(i int) (connector.Record, error) {
		if f.gen.Load() != gen {
			return connector.Record{}, fmt.Errorf("record %d of a page released", i)
		}
		return f.rows.record(i)
	}
	release := func() {
		if f.gen.CompareAndSwap(gen, gen+1) {
			f.release()
		}
	}
	return connector.HashedPage{IDs: ids, Sums: f.sums, Record: record, Release: release}
}

// release hands the page's buffers back, for a later page.
func (f *hashedFill) release() {
	if cap(f.rows.buf) > maxKeptPageBytes {
		return
	}
	select {
	case f.rows.src.hashed.free <- f:
	default:
	}
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
