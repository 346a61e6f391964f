package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// SourceOptions tune a Source. The zero value is usable.
type SourceOptions struct {
	// ConnectTimeout bounds establishing a connection. Defaults to the DSN's
	// connect_timeout, else DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxConns bounds the connection pool. Defaults to 2.
	MaxConns int32
	// Logger receives debug messages. It never receives the DSN.
	Logger logr.Logger
	// Fields, when set, names the record fields the caller reads (the mapping's: ok false
	// when it cannot name them all). The source then reads only those of the table's
	// columns, besides the id, updated_at and deleted-marker columns: a column nothing
	// reads is not transferred, and in Snapshot mode its changes write nothing. It is
	// called once, after the table is inspected. Unset, or ok false: every column is read.
	// Columns still lists every column of the table.
	Fields func() (names []string, ok bool)
}

// idKind is how the id column compares.
type idKind int

const (
	idInt  idKind = iota // int2, int4, int8: numerically
	idText               // text, varchar: byte-wise (COLLATE "C")
	idUUID               // uuid: byte-wise, equal to its lower-case text order
)

// Source reads a PostgreSQL table or view in ascending (updatedAt, id) order, or scans it
// by id (connector.Scanner; SourceConfig.ScanOnly for a table without a cursor time). It
// implements connector.Source, connector.Fetcher, connector.Counter and connector.Scanner
// and is safe for concurrent use.
//
// Values in Record.Fields, by column type:
//   - smallint, integer, bigint: int64
//   - real, double precision: float64
//   - numeric: connector.Decimal in PostgreSQL's exact text form ("12.30", "NaN")
//   - boolean: bool
//   - text, varchar, char, uuid and every type not listed here: string, in PostgreSQL's
//     text form
//   - timestamptz: time.Time in UTC; date: midnight UTC of that date; timestamp without
//     time zone: its wall time read in SourceConfig.TimeZone (required when the table has
//     such a column), or NonexistentWallTime for a wall time the zone skips
//   - json, jsonb: map[string]any, []any, string, bool, nil or json.Number; numbers are
//     json.Number so that no number loses precision
//   - NULL: nil
//
// Rows whose updatedAt is NULL are never read; the id column must be unique and not null.
// A zone-less updatedAt the declared zone skips (clocks moving forward) has no instant: its
// row is read at the end of that gap (one nanosecond before it), the gap's rows ordered by
// id, and RecordError reports it, so that the run records it as failed and goes on.
type Source struct {
	pool   *pgxpool.Pool
	log    logr.Logger
	rel    *relation
	ids    idKind
	loc    *time.Location // zone of a timestamp-without-time-zone cursor column, else nil
	zone   *time.Location // the declared zone of every timestamp-without-time-zone column
	cols   []srcColumn
	idIdx  int
	updIdx int

	qAfter, qFrom, qFetch, qCount string
	qScanFirst, qScan             string // the first rows by id; the rows with an id after $1, by id
	scanOnly                      bool   // SourceConfig.ScanOnly: ReadPage and CountWindow fail
	qGap                          string // the rows whose cursor wall time is in [$1, $2), id after $3 (if not NULL), by id
	pageBytes                     int    // a ReadPage ends early once its rows' column data reach this (maxPageBytes)

	versions sync.Map // field list -> *Source reading only those columns (ScanVersions, source_versions.go)
	// updCol is the updated_at column; countIndex whether an index leads with it
	// (CountWindow then counts without parallel workers: count_serial.go).
	updCol     string
	countIndex leadIndexed
	// bin keeps what Recycle hands back, shared with the version scan's readers
	// (versionSource): the maps of scanned positions serve later pages, and the reverse.
	bin *recycleBin

	hashed hashedScan // ScanHashed's open statement (source_hashscan.go)
	// only, when not nil, holds the only columns read besides the id, updated_at and
	// deleted-marker columns (SourceOptions.Fields); nil: every column.
	only map[string]bool
}

// maxPageBytes bounds the column data of one ReadPage: a page of wide rows ends early
// (More set) once its rows reach it, so that the runner's memory stays within its budget
// whatever the page size and the row width (the engine holds two pages at a time). It
// is not an API default: a page of narrow rows never reaches it.
const maxPageBytes = 4 << 20

// srcColumn is one selected column and how its value is read.
type srcColumn struct {
	name string
	oid  uint32
	// text columns are selected as ::text and scanned as strings.
	text bool
}

// NewSource connects, inspects the table and prepares the queries. dsn is the resolved
// connection string; it never appears in errors.
func NewSource(ctx context.Context, cfg SourceConfig, dsn string, opts SourceOptions) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 2
	}
	pool, err := connect(ctx, dsn, opts.ConnectTimeout, maxConns, nil)
	if err != nil {
		return nil, err
	}
	s := &Source{pool: pool, log: opts.Logger, pageBytes: maxPageBytes, bin: &recycleBin{}}
	if err := s.setup(ctx, cfg, opts.Fields); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// setup inspects the table, checks the cursor columns and builds the queries, which read
// the columns fields names (SourceOptions.Fields).
func (s *Source) setup(ctx context.Context, cfg SourceConfig, fields func() ([]string, bool)) error {
	updCol, idCol := cfg.UpdatedAtColumn, cfg.IDColumn
	rel, err := inspect(ctx, s.pool, cfg.Table)
	if err != nil {
		return err
	}
	s.rel = rel
	if fields != nil {
		if names, ok := fields(); ok {
			s.only = make(map[string]bool, len(names))
			for _, n := range names {
				s.only[n] = true
			}
		}
	}
	s.updIdx = -1
	if cfg.ScanOnly {
		return s.setupScan(cfg)
	}
	upd, err := rel.column(updCol, "updated_at")
	if err != nil {
		return err
	}
	switch upd.oid {
	case oidTimestamptz:
	case oidTimestamp:
		if cfg.TimeZone == "" {
			return fmt.Errorf("updated_at column %q of table %q is timestamp without time zone: declare spec.source.postgres.timeZone, the IANA zone its wall times are written in", updCol, cfg.Table)
		}
		loc, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			return fmt.Errorf("spec.source.postgres.timeZone %q: %w", cfg.TimeZone, err)
		}
		s.loc, s.zone = loc, loc
	default:
		return fmt.Errorf("updated_at column %q of table %q is %s, want timestamptz or timestamp", updCol, cfg.Table, upd.full)
	}
	idOrder, err := s.setupID(cfg)
	if err != nil {
		return err
	}
	if err := s.setupZone(cfg); err != nil {
		return err
	}

	sel := s.selectList(cfg)
	u := quote(updCol)
	tsType := s.updatedAtType()
	idArray := map[idKind]string{idInt: "$1::int8[]", idText: "$1::text[]", idUUID: "$1::uuid[]"}[s.ids]
	order := fmt.Sprintf(" ORDER BY %s, %s", u, idOrder)
	s.setScanQueries(sel.String(), idCol, idOrder)
	s.setKeysetQueries(sel.String(), updCol, idCol, idOrder)
	s.qFetch = fmt.Sprintf("%s WHERE %s = ANY(%s)%s", sel.String(), quote(idCol), idArray, order)
	s.qCount = fmt.Sprintf("SELECT count(*) FROM %s WHERE %s >= $1::%s AND %s <= $2::%s", rel.ident.Sanitize(), u, tsType, u, tsType)
	s.updCol = updCol
	if name := cfg.DeletedColumn; name != "" {
		del, err := rel.column(name, "deleted marker (spec.deletes.sourceField)")
		if err != nil {
			return err
		}
		live := fmt.Sprintf("%s IS NULL", quote(del.name))
		if del.oid == oidBool { // false marks a live row, as in the mapping
			live = fmt.Sprintf("%s IS NOT TRUE", quote(del.name))
		}
		s.qCount += " AND " + live
	}
	return nil
}

// updatedAtType is the SQL type positions are compared in: timestamp for a zone-less
// column read in a declared zone, timestamptz otherwise.
func (s *Source) updatedAtType() string {
	if s.loc != nil {
		return "timestamp"
	}
	return "timestamptz"
}

// setKeysetQueries builds ReadPage's queries over the select list sel: after a position,
// from a time, and inside a skipped-wall-time gap.
func (s *Source) setKeysetQueries(sel, updCol, idCol, idOrder string) {
	u := quote(updCol)
	tsType := s.updatedAtType()
	idParam := map[idKind]string{idInt: "$2::int8", idText: "$2::text", idUUID: "$2::uuid"}[s.ids]
	order := fmt.Sprintf(" ORDER BY %s, %s", u, idOrder)
	// A row comparison (a, b) > (x, y) is a > x OR (a = x AND b > y), which a btree index
	// on (updated_at, id) serves directly.
	s.qAfter = fmt.Sprintf("%s WHERE (%s, %s) > ($1::%s, %s)%s LIMIT $3", sel, u, idOrder, tsType, idParam, order)
	s.qFrom = fmt.Sprintf("%s WHERE %s >= $1::%s%s LIMIT $2", sel, u, tsType, order)
	idAfter := map[idKind]string{idInt: "%s > $3::int8", idText: `%s COLLATE "C" > $3::text`, idUUID: "%s > $3::uuid"}[s.ids]
	idNull := map[idKind]string{idInt: "$3::int8", idText: "$3::text", idUUID: "$3::uuid"}[s.ids]
	s.qGap = fmt.Sprintf("%s WHERE %s >= $1::timestamp AND %s < $2::timestamp AND (%s IS NULL OR %s) ORDER BY %s LIMIT $4",
		sel, u, u, idNull, fmt.Sprintf(idAfter, quote(idCol)), idOrder)
}

// setScanQueries builds the scan queries (two, so that each plan is a plain index range
// scan): from the first id, and after the id $1; both by id, at most $n rows.
func (s *Source) setScanQueries(sel, idCol, idOrder string) {
	idAfter := map[idKind]string{idInt: "%s > $1::int8", idText: `%s COLLATE "C" > $1::text`, idUUID: "%s > $1::uuid"}[s.ids]
	s.qScanFirst = fmt.Sprintf("%s ORDER BY %s LIMIT $1", sel, idOrder)
	s.qScan = fmt.Sprintf("%s WHERE %s ORDER BY %s LIMIT $2", sel, fmt.Sprintf(idAfter, quote(idCol)), idOrder)
	// ScanHashed's statements: the same rows, without a limit (source_hashscan.go).
	s.hashed.qFirst = fmt.Sprintf("%s ORDER BY %s", sel, idOrder)
	s.hashed.qAfter = fmt.Sprintf("%s WHERE %s ORDER BY %s", sel, fmt.Sprintf(idAfter, quote(idCol)), idOrder)
}

// setupID checks the id column, sets the id order and returns its ORDER BY expression.
func (s *Source) setupID(cfg SourceConfig) (string, error) {
	id, err := s.rel.column(cfg.IDColumn, "id")
	if err != nil {
		return "", err
	}
	idOrder := quote(cfg.IDColumn)
	switch {
	case id.oid == oidInt2 || id.oid == oidInt4 || id.oid == oidInt8:
		s.ids = idInt
	case id.oid == oidText || id.oid == oidVarchar:
		s.ids = idText
		idOrder += ` COLLATE "C"`
	case id.oid == oidUUID:
		s.ids = idUUID
	default:
		return "", fmt.Errorf("id column %q of table %q is %s, want an integer, text, varchar or uuid column", cfg.IDColumn, cfg.Table, id.full)
	}
	return idOrder, nil
}

// reads reports whether the select list reads column name: every column, unless
// SourceOptions.Fields named the record fields read; the id, updated_at and deleted-marker
// columns always.
func (s *Source) reads(cfg SourceConfig, name string) bool {
	return s.only == nil || s.only[name] || name == cfg.IDColumn || name == cfg.UpdatedAtColumn || name == cfg.DeletedColumn
}

// selectList builds "SELECT <the columns read> FROM <table>", in table order (reads), and
// records the columns read and the indexes of the id and (unless ScanOnly) updated_at
// columns.
func (s *Source) selectList(cfg SourceConfig) *strings.Builder {
	var sel strings.Builder
	sel.WriteString("SELECT ")
	for _, name := range s.rel.order {
		if !s.reads(cfg, name) {
			continue
		}
		i := len(s.cols)
		c := s.rel.columns[name]
		sc := srcColumn{name: name, oid: c.oid}
		switch c.oid {
		case oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidBool, oidDate, oidTimestamp, oidTimestamptz:
		default:
			sc.text = true
		}
		if i > 0 {
			sel.WriteString(", ")
		}
		sel.WriteString(quote(name))
		if sc.text {
			sel.WriteString("::text")
		}
		if name == cfg.IDColumn {
			s.idIdx = i
		}
		if name == cfg.UpdatedAtColumn && !cfg.ScanOnly {
			s.updIdx = i
		}
		s.cols = append(s.cols, sc)
	}
	sel.WriteString(" FROM " + s.rel.ident.Sanitize())
	return &sel
}

// setupScan prepares a source read only by id (SourceConfig.ScanOnly): the scan and
// fetch queries, ascending by id; no cursor time.
func (s *Source) setupScan(cfg SourceConfig) error {
	idOrder, err := s.setupID(cfg)
	if err != nil {
		return err
	}
	if err := s.setupZone(cfg); err != nil {
		return err
	}
	sel := s.selectList(cfg)
	idArray := map[idKind]string{idInt: "$1::int8[]", idText: "$1::text[]", idUUID: "$1::uuid[]"}[s.ids]
	s.setScanQueries(sel.String(), cfg.IDColumn, idOrder)
	s.qFetch = fmt.Sprintf("%s WHERE %s = ANY(%s) ORDER BY %s", sel, quote(cfg.IDColumn), idArray, idOrder)
	s.scanOnly = true
	return nil
}

// ScanPage returns at most limit records with an id strictly after afterID ("": from the
// first), ascending by id in CompareIDs' order; one statement, hence one snapshot.
func (s *Source) ScanPage(ctx context.Context, afterID string, limit int) (connector.Page, error) {
	if limit <= 0 {
		return connector.Page{}, fmt.Errorf("scan page after id %q: limit %d must be positive", afterID, limit)
	}
	var rows pgx.Rows
	var err error
	if afterID == "" {
		rows, err = s.pool.Query(ctx, s.qScanFirst, limit+1)
	} else {
		id, perr := s.idArg(afterID)
		if perr != nil {
			return connector.Page{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, perr)
		}
		rows, err = s.pool.Query(ctx, s.qScan, id, limit+1)
	}
	if err != nil {
		return connector.Page{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, err)
	}
	recs, err := s.collect(rows, limit+1)
	if err != nil {
		return connector.Page{}, fmt.Errorf("scan page after id %q of %q: %w", afterID, s.rel.name, err)
	}
	if s.updIdx >= 0 {
		for i := range recs { // a scan knows no cursor time
			recs[i].UpdatedAt = time.Time{}
		}
	}
	if len(recs) > limit {
		return connector.Page{Records: recs[:limit], More: true}, nil
	}
	return connector.Page{Records: recs}, nil
}

// setupZone checks spec.source.postgres.timeZone against the zone-less timestamp columns
// read: every one needs the declared zone (it is read in it, never guessed as UTC), and a
// zone declared for a table without one is a mistake.
func (s *Source) setupZone(cfg SourceConfig) error {
	var naive []string
	for _, name := range s.rel.order {
		if s.rel.columns[name].oid == oidTimestamp {
			naive = append(naive, name)
		}
	}
	switch {
	case len(naive) > 0 && cfg.TimeZone == "":
		return fmt.Errorf("column %q of table %q is timestamp without time zone: declare spec.source.postgres.timeZone, the IANA zone its wall times are written in (every such column is read in it)", naive[0], cfg.Table)
	case len(naive) == 0 && cfg.TimeZone != "":
		return fmt.Errorf("table %q has no timestamp without time zone column: remove spec.source.postgres.timeZone, which is only for such columns", cfg.Table)
	case s.zone == nil && cfg.TimeZone != "":
		loc, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			return fmt.Errorf("spec.source.postgres.timeZone %q: %w", cfg.TimeZone, err)
		}
		s.zone = loc
	}
	return nil
}

// CompareIDs orders ids as the source's SQL does: integers numerically, text byte-wise,
// uuids by their lower-case text.
func (s *Source) CompareIDs(a, b string) int {
	if s.ids == idInt {
		if c, ok := compareDecimals(a, b); ok {
			return c
		}
		x, errX := strconv.ParseInt(a, 10, 64)
		y, errY := strconv.ParseInt(b, 10, 64)
		if errX == nil && errY == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	if s.ids == idUUID {
		a, b = strings.ToLower(a), strings.ToLower(b)
	}
	return strings.Compare(a, b)
}

// ReadPage returns at most limit records strictly after `after` (at or after its time when
// its id is empty). Each query is one statement, hence from one snapshot; a page that
// reaches the rows of a skipped-wall-time gap reads them by a second one.
func (s *Source) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	if limit <= 0 {
		return connector.Page{}, fmt.Errorf("read page after %s: limit %d must be positive", after, limit)
	}
	if s.scanOnly {
		return connector.Page{}, fmt.Errorf("read page after %s from %q: the source is read only by id (Snapshot mode): use ScanPage", after, s.rel.name)
	}
	page, err := s.readPage(ctx, after, limit)
	if err != nil {
		return connector.Page{}, fmt.Errorf("read page after %s from %q: %w", after, s.rel.name, err)
	}
	return page, nil
}

func (s *Source) readPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	var out []connector.Record
	for {
		n := limit - len(out)
		if s.loc != nil {
			if end := after.UpdatedAt.Add(time.Nanosecond); after.UpdatedAt.Nanosecond()%1000 == 999 {
				if from, to, ok := gapAt(end, s.loc); ok {
					// Inside a gap's rows: the rest of them by id, then on from its end.
					recs, err := s.readGap(ctx, from, to, after.ID, n+1)
					if err != nil {
						return connector.Page{}, err
					}
					if len(recs) > n {
						return connector.Page{Records: append(out, recs[:n]...), More: true}, nil
					}
					out = append(out, recs...)
					if len(out) == limit {
						return connector.Page{Records: out, More: true}, nil
					}
					after = cursor.Cursor{UpdatedAt: end}
					continue
				}
			}
		}
		recs, full, err := s.read(ctx, after, n+1)
		if err != nil {
			return connector.Page{}, err
		}
		if s.loc != nil {
			if i := s.firstGapRow(recs); i >= 0 {
				// The gap's rows sort by id, not by their wall time: read them together.
				out = append(out, recs[:i]...)
				if len(out) == limit {
					return connector.Page{Records: out, More: true}, nil
				}
				after = cursor.Cursor{UpdatedAt: recs[i].UpdatedAt}
				continue
			}
		}
		if out == nil {
			out = recs // the common case, one query: no copy
		} else {
			out = append(out, recs...)
		}
		if len(out) > limit {
			return connector.Page{Records: out[:limit], More: true}, nil
		}
		if full {
			// The byte budget ended the page: the next one starts after its last row.
			return connector.Page{Records: out, More: true}, nil
		}
		return connector.Page{Records: out}, nil
	}
}

// read runs the keyset query: at most limit records strictly after `after` (at or after its
// time when its id is empty), in the column's order; full reports that the page's byte
// budget (pageBytes) ended it before limit.
func (s *Source) read(ctx context.Context, after cursor.Cursor, limit int) (recs []connector.Record, full bool, err error) {
	at := after.UpdatedAt
	var rows pgx.Rows
	if frac := at.Nanosecond() % 1000; after.ID == "" || frac != 0 {
		// PostgreSQL keeps microseconds. Every stored time is either at or before the
		// cursor's microsecond floor (hence before a sub-microsecond cursor) or at or after
		// its ceiling.
		if frac != 0 {
			at = at.Add(time.Duration(1000 - frac))
		}
		rows, err = s.pool.Query(ctx, s.qFrom, s.toColumn(at), limit)
	} else {
		id, perr := s.idArg(after.ID)
		if perr != nil {
			return nil, false, perr
		}
		rows, err = s.pool.Query(ctx, s.qAfter, s.toColumn(at), id, limit)
	}
	if err != nil {
		return nil, false, err
	}
	return s.collectBudget(rows, limit, s.pageBytes)
}

// readGap reads at most limit rows whose cursor wall time is in [from, to) (a gap of the
// zone), by id, after the id `after` unless it is empty.
func (s *Source) readGap(ctx context.Context, from, to time.Time, after string, limit int) ([]connector.Record, error) {
	var id any
	if after != "" {
		var err error
		if id, err = s.idArg(after); err != nil {
			return nil, err
		}
	}
	rows, err := s.pool.Query(ctx, s.qGap, from, to, id, limit)
	if err != nil {
		return nil, err
	}
	return s.collect(rows, limit)
}

// firstGapRow is the index of the first record whose cursor wall time the zone skips, or -1.
func (s *Source) firstGapRow(recs []connector.Record) int {
	name := s.cols[s.updIdx].name
	for i, r := range recs {
		if _, ok := r.Fields[name].(NonexistentWallTime); ok {
			return i
		}
	}
	return -1
}

// idArg is a cursor id as a query parameter.
func (s *Source) idArg(id string) (any, error) {
	if s.ids != idInt {
		return id, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cursor id %q is not an integer", id)
	}
	return n, nil
}

// FetchByIDs returns the records with these ids, ascending by (updatedAt, id). Ids that
// do not exist, or cannot be ids of this table (not an integer, not a uuid), are absent.
func (s *Source) FetchByIDs(ctx context.Context, ids []string) ([]connector.Record, error) {
	var arg any
	switch s.ids {
	case idInt:
		ns := make([]int64, 0, len(ids))
		for _, id := range ids {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				ns = append(ns, n)
			}
		}
		arg = ns
	case idUUID:
		us := make([]pgtype.UUID, 0, len(ids))
		for _, id := range ids {
			var u pgtype.UUID
			if u.Scan(id) == nil {
				us = append(us, u)
			}
		}
		arg = us
	default:
		arg = ids
	}
	rows, err := s.pool.Query(ctx, s.qFetch, arg)
	if err != nil {
		return nil, fmt.Errorf("fetch %d records by id from %q: %w", len(ids), s.rel.name, err)
	}
	recs, err := s.collect(rows, len(ids))
	if err != nil {
		return nil, fmt.Errorf("fetch %d records by id from %q: %w", len(ids), s.rel.name, err)
	}
	if s.loc != nil { // rows of a skipped-wall-time gap sort by their cursor, not their wall time
		slices.SortStableFunc(recs, func(a, b connector.Record) int {
			return cursor.Compare(a.Cursor(), b.Cursor(), s.CompareIDs)
		})
	}
	return recs, nil
}

// CountWindow counts rows whose updatedAt is in [from, to], leaving out rows marked
// deleted (SourceConfig.DeletedColumn); without parallel workers when an index leads with
// the updated_at column (count_serial.go).
func (s *Source) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	if s.scanOnly {
		return 0, fmt.Errorf("count records of %q: the source has no updated_at column (Snapshot mode)", s.rel.name)
	}
	var n int64
	var err error
	if s.countIndex.get(ctx, s.pool, s.rel.oid, s.updCol) { // a range of the index (count_serial.go)
		n, err = countSerially(ctx, s.pool, s.qCount, s.toColumn(from), s.toColumn(to))
	} else {
		err = s.pool.QueryRow(ctx, s.qCount, s.toColumn(from), s.toColumn(to)).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count records of %q with updated_at in [%s, %s]: %w", s.rel.name,
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// Close closes the connection pool.
func (s *Source) Close() error {
	s.pool.Close()
	return nil
}

// toColumn converts a UTC instant to the cursor column's representation: the instant
// itself for timestamptz, the wall time in the declared zone for timestamp.
func (s *Source) toColumn(t time.Time) time.Time {
	if s.loc == nil {
		return t.UTC()
	}
	return wallOf(t, s.loc)
}

// maxFreeMaps bounds the Fields maps a Source keeps for reuse: two pages of the largest
// size (spec.pageSize and the engine's adaptive size are at most 10,000), the most the
// engine holds at once.
const maxFreeMaps = 20000

// Recycle takes back the Fields maps of records the caller is done with
// (connector.Recycler), for later rows; it sets each record's Fields to nil.
func (s *Source) Recycle(recs []connector.Record) {
	s.RecycleFields(recs)
	s.bin.mu.Lock()
	defer s.bin.mu.Unlock()
	if cap(recs) > cap(s.bin.spareRecs) {
		s.bin.spareRecs = recs[:0]
	}
}

// RecycleFields takes back the Fields maps of records the caller has mapped
// (connector.FieldsRecycler), for later rows; it sets each record's Fields to nil and
// keeps nothing of the records' slice.
func (s *Source) RecycleFields(recs []connector.Record) {
	s.bin.mu.Lock()
	defer s.bin.mu.Unlock()
	for i := range recs {
		if m := recs[i].Fields; m != nil && len(s.bin.free) < maxFreeMaps {
			s.bin.free = append(s.bin.free, m)
		}
		recs[i].Fields = nil
	}
}

// recordSlice returns an empty slice for a page of up to capacity records: the one handed
// back last, when it is large enough, else a new one.
func (s *Source) recordSlice(capacity int) []connector.Record {
	s.bin.mu.Lock()
	spare := s.bin.spareRecs
	if cap(spare) >= capacity {
		s.bin.spareRecs = nil
	}
	s.bin.mu.Unlock()
	if cap(spare) < capacity {
		return make([]connector.Record, 0, capacity)
	}
	spare = spare[:cap(spare)]
	clear(spare)
	return spare[:0]
}

// putMaps keeps emptied maps for reuse.
func (s *Source) putMaps(ms []map[string]any) {
	s.bin.mu.Lock()
	defer s.bin.mu.Unlock()
	ms = ms[:min(len(ms), maxFreeMaps-len(s.bin.free))]
	s.bin.free = append(s.bin.free, ms...)
}

// takeMaps moves up to n recycled maps, emptied, into dst.
func (s *Source) takeMaps(dst []map[string]any, n int) []map[string]any {
	s.bin.mu.Lock()
	k := min(n, len(s.bin.free))
	dst = append(dst, s.bin.free[len(s.bin.free)-k:]...)
	clear(s.bin.free[len(s.bin.free)-k:])
	s.bin.free = s.bin.free[:len(s.bin.free)-k]
	s.bin.mu.Unlock()
	for _, m := range dst {
		clear(m)
	}
	return dst
}

// recycleBin is what a Source keeps for reuse: the Fields maps and the largest page's slice
// handed back (Recycle, RecycleFields), taken by collectBudget.
type recycleBin struct {
	mu        sync.Mutex
	free      []map[string]any   // Fields maps handed back
	spareRecs []connector.Record // a page's slice handed back
}

var (
	_ connector.Recycler       = (*Source)(nil)
	_ connector.FieldsRecycler = (*Source)(nil)
	_ connector.Source         = (*Source)(nil)
	_ connector.Fetcher        = (*Source)(nil)
	_ connector.Counter        = (*Source)(nil)
	_ connector.Scanner        = (*Source)(nil)
)

// compareDecimals orders two non-negative integers written as the ids of an integer column
// are (strconv's decimal form: digits only, no leading zero) without parsing them: by
// length, then by bytes. ok is false when either is in another form (a sign, a leading
// zero, anything but digits, empty), which the caller parses.
func compareDecimals(a, b string) (int, bool) {
	if !plainDecimal(a) || !plainDecimal(b) {
		return 0, false
	}
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1, true
		}
		return 1, true
	}
	return strings.Compare(a, b), true
}

// plainDecimal reports whether s is a non-negative integer in strconv's decimal form.
func plainDecimal(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
