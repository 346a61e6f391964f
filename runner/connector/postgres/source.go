package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
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
}

// idKind is how the id column compares.
type idKind int

const (
	idInt  idKind = iota // int2, int4, int8: numerically
	idText               // text, varchar: byte-wise (COLLATE "C")
	idUUID               // uuid: byte-wise, equal to its lower-case text order
)

// Source reads a PostgreSQL table or view in ascending (updatedAt, id) order. It
// implements connector.Source, connector.Fetcher and connector.Counter and is safe for
// concurrent use.
//
// Values in Record.Fields, by column type:
//   - smallint, integer, bigint: int64
//   - real, double precision: float64
//   - numeric: connector.Decimal in PostgreSQL's exact text form ("12.30", "NaN")
//   - boolean: bool
//   - text, varchar, char, uuid and every type not listed here: string, in PostgreSQL's
//     text form
//   - timestamptz: time.Time in UTC; date: midnight UTC of that date; timestamp without
//     time zone: its wall time read in spec.timeZone when declared, otherwise in UTC
//   - json, jsonb: map[string]any, []any, string, bool, nil or json.Number; numbers are
//     json.Number so that no number loses precision
//   - NULL: nil
//
// Rows whose updatedAt is NULL are never read; the id column must be unique and not null.
type Source struct {
	pool   *pgxpool.Pool
	log    logr.Logger
	rel    *relation
	ids    idKind
	loc    *time.Location // zone of a timestamp-without-time-zone cursor column, else nil
	cols   []srcColumn
	idIdx  int
	updIdx int

	qAfter, qFrom, qFetch, qCount string
}

// srcColumn is one selected column and how its value is read.
type srcColumn struct {
	name string
	oid  uint32
	// text columns are selected as ::text and scanned as strings.
	text bool
}

// NewSource connects, inspects the table and prepares the queries. dsn is the resolved
// connection string; it never appears in errors.
func NewSource(ctx context.Context, spec v1alpha1.PostgresSource, dsn string, opts SourceOptions) (*Source, error) {
	updCol := spec.UpdatedAtColumn
	if updCol == "" {
		updCol = "updated_at"
	}
	idCol := spec.IDColumn
	if idCol == "" {
		idCol = "id"
	}
	if _, err := tableName(spec.Table); err != nil {
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
	s := &Source{pool: pool, log: opts.Logger}
	if err := s.setup(ctx, spec, updCol, idCol); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Source) setup(ctx context.Context, spec v1alpha1.PostgresSource, updCol, idCol string) error {
	rel, err := inspect(ctx, s.pool, spec.Table)
	if err != nil {
		return err
	}
	s.rel = rel
	upd, err := rel.column(updCol, "updated_at")
	if err != nil {
		return err
	}
	switch upd.oid {
	case oidTimestamptz:
		if spec.TimeZone != "" {
			return fmt.Errorf("updated_at column %q of table %q is timestamp with time zone: remove spec.source.postgres.timeZone, which is only for timestamp without time zone", updCol, spec.Table)
		}
	case oidTimestamp:
		if spec.TimeZone == "" {
			return fmt.Errorf("updated_at column %q of table %q is timestamp without time zone: declare spec.source.postgres.timeZone, the IANA zone its wall times are written in", updCol, spec.Table)
		}
		loc, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return fmt.Errorf("spec.source.postgres.timeZone %q: %w", spec.TimeZone, err)
		}
		s.loc = loc
	default:
		return fmt.Errorf("updated_at column %q of table %q is %s, want timestamptz or timestamp", updCol, spec.Table, upd.full)
	}
	id, err := rel.column(idCol, "id")
	if err != nil {
		return err
	}
	idOrder := quote(idCol)
	switch {
	case id.oid == oidInt2 || id.oid == oidInt4 || id.oid == oidInt8:
		s.ids = idInt
	case id.oid == oidText || id.oid == oidVarchar:
		s.ids = idText
		idOrder += ` COLLATE "C"`
	case id.oid == oidUUID:
		s.ids = idUUID
	default:
		return fmt.Errorf("id column %q of table %q is %s, want an integer, text, varchar or uuid column", idCol, spec.Table, id.full)
	}

	var sel strings.Builder
	sel.WriteString("SELECT ")
	for i, name := range rel.order {
		c := rel.columns[name]
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
		if name == idCol {
			s.idIdx = i
		}
		if name == updCol {
			s.updIdx = i
		}
		s.cols = append(s.cols, sc)
	}
	sel.WriteString(" FROM " + rel.ident.Sanitize())
	u := quote(updCol)
	tsType := "timestamptz"
	if s.loc != nil {
		tsType = "timestamp"
	}
	idParam := map[idKind]string{idInt: "$2::int8", idText: "$2::text", idUUID: "$2::uuid"}[s.ids]
	idArray := map[idKind]string{idInt: "$1::int8[]", idText: "$1::text[]", idUUID: "$1::uuid[]"}[s.ids]
	order := fmt.Sprintf(" ORDER BY %s, %s", u, idOrder)
	// A row comparison (a, b) > (x, y) is a > x OR (a = x AND b > y), which a btree index
	// on (updated_at, id) serves directly.
	s.qAfter = fmt.Sprintf("%s WHERE (%s, %s) > ($1::%s, %s)%s LIMIT $3", sel.String(), u, idOrder, tsType, idParam, order)
	s.qFrom = fmt.Sprintf("%s WHERE %s >= $1::%s%s LIMIT $2", sel.String(), u, tsType, order)
	s.qFetch = fmt.Sprintf("%s WHERE %s = ANY(%s)%s", sel.String(), quote(idCol), idArray, order)
	s.qCount = fmt.Sprintf("SELECT count(*) FROM %s WHERE %s >= $1::%s AND %s <= $2::%s", rel.ident.Sanitize(), u, tsType, u, tsType)
	return nil
}

// CompareIDs orders ids as the source's SQL does: integers numerically, text byte-wise,
// uuids by their lower-case text.
func (s *Source) CompareIDs(a, b string) int {
	if s.ids == idInt {
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
// its id is empty). The page is read by one statement, hence from one snapshot.
func (s *Source) ReadPage(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	if limit <= 0 {
		return connector.Page{}, fmt.Errorf("read page after %s: limit %d must be positive", after, limit)
	}
	at := after.UpdatedAt
	var rows pgx.Rows
	var err error
	if frac := at.Nanosecond() % 1000; after.ID == "" || frac != 0 {
		// PostgreSQL keeps microseconds. Every stored time is either at or before the
		// cursor's microsecond floor (hence before a sub-microsecond cursor) or at or after
		// its ceiling.
		if frac != 0 {
			at = at.Add(time.Duration(1000 - frac))
		}
		rows, err = s.pool.Query(ctx, s.qFrom, s.toColumn(at), limit+1)
	} else {
		var id any = after.ID
		if s.ids == idInt {
			n, perr := strconv.ParseInt(after.ID, 10, 64)
			if perr != nil {
				return connector.Page{}, fmt.Errorf("read page after %s: cursor id %q is not an integer", after, after.ID)
			}
			id = n
		}
		rows, err = s.pool.Query(ctx, s.qAfter, s.toColumn(at), id, limit+1)
	}
	if err != nil {
		return connector.Page{}, fmt.Errorf("read page after %s from %q: %w", after, s.rel.name, err)
	}
	recs, err := s.collect(rows, limit+1)
	if err != nil {
		return connector.Page{}, fmt.Errorf("read page after %s from %q: %w", after, s.rel.name, err)
	}
	page := connector.Page{Records: recs}
	if len(recs) > limit {
		page.Records, page.More = recs[:limit], true
	}
	return page, nil
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
	return recs, nil
}

// CountWindow counts rows whose updatedAt is in [from, to].
func (s *Source) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, s.qCount, s.toColumn(from), s.toColumn(to)).Scan(&n); err != nil {
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
	w := t.In(s.loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
}

// wallToUTC reads a timestamp-without-time-zone value (wall clock, carried as UTC) as a
// wall time in the declared zone (UTC when none). strict refuses wall times the zone
// skips (the hour lost when clocks move forward): they have no instant, and a guessed one
// would break the cursor order. A repeated wall time (clocks moving back) maps to one of
// its instants, the same one every time, which keeps the order.
func (s *Source) wallToUTC(w time.Time, strict bool) (time.Time, error) {
	if s.loc == nil {
		return w, nil
	}
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), s.loc)
	if strict {
		b := t.In(s.loc)
		if b.Year() != w.Year() || b.YearDay() != w.YearDay() || b.Hour() != w.Hour() || b.Minute() != w.Minute() || b.Second() != w.Second() {
			return time.Time{}, fmt.Errorf("wall time %s does not exist in time zone %s", w.Format("2006-01-02 15:04:05.999999"), s.loc)
		}
	}
	return t.UTC(), nil
}

// collect reads all rows into records.
func (s *Source) collect(rows pgx.Rows, capacity int) ([]connector.Record, error) {
	defer rows.Close()
	if capacity > 10000 {
		capacity = 10000
	}
	recs := make([]connector.Record, 0, capacity)
	targets := make([]any, len(s.cols))
	vals := make([]scanValue, len(s.cols))
	for i, c := range s.cols {
		targets[i] = vals[i].target(c)
	}
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return nil, err
		}
		rec := connector.Record{Fields: make(map[string]any, len(s.cols))}
		for i, c := range s.cols {
			v, err := vals[i].value(s, c)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.name, err)
			}
			rec.Fields[c.name] = v
		}
		switch id := rec.Fields[s.cols[s.idIdx].name].(type) {
		case int64:
			rec.ID = strconv.FormatInt(id, 10)
		case string:
			rec.ID = id
		default:
			return nil, fmt.Errorf("row with NULL id column %q", s.cols[s.idIdx].name)
		}
		upd := s.cols[s.updIdx]
		if !vals[s.updIdx].valid() {
			return nil, fmt.Errorf("record %s: NULL updated_at column %q", rec.ID, upd.name)
		}
		if s.loc != nil {
			t, err := s.wallToUTC(vals[s.updIdx].ts.Time, true)
			if err != nil {
				return nil, fmt.Errorf("record %s: updated_at column %q: %w", rec.ID, upd.name, err)
			}
			rec.UpdatedAt = t
			rec.Fields[upd.name] = t
		} else {
			rec.UpdatedAt = rec.Fields[upd.name].(time.Time)
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

// scanValue holds the scan target of one column, reused across rows.
type scanValue struct {
	i    pgtype.Int8
	f    pgtype.Float8
	b    pgtype.Bool
	t    pgtype.Text
	tz   pgtype.Timestamptz
	ts   pgtype.Timestamp
	d    pgtype.Date
	kind uint32
}

func (v *scanValue) target(c srcColumn) any {
	v.kind = c.oid
	if c.text {
		v.kind = oidText
		return &v.t
	}
	switch c.oid {
	case oidInt2, oidInt4, oidInt8:
		v.kind = oidInt8
		return &v.i
	case oidFloat4, oidFloat8:
		v.kind = oidFloat8
		return &v.f
	case oidBool:
		return &v.b
	case oidTimestamptz:
		return &v.tz
	case oidTimestamp:
		return &v.ts
	case oidDate:
		return &v.d
	}
	panic(fmt.Sprintf("no scan target for type %d", c.oid))
}

func (v *scanValue) valid() bool {
	switch v.kind {
	case oidInt8:
		return v.i.Valid
	case oidFloat8:
		return v.f.Valid
	case oidBool:
		return v.b.Valid
	case oidText:
		return v.t.Valid
	case oidTimestamptz:
		return v.tz.Valid
	case oidTimestamp:
		return v.ts.Valid
	case oidDate:
		return v.d.Valid
	}
	return false
}

// value converts the scanned value to the plain Go value documented on Source.
func (v *scanValue) value(s *Source, c srcColumn) (any, error) {
	if !v.valid() {
		return nil, nil
	}
	switch v.kind {
	case oidInt8:
		return v.i.Int64, nil
	case oidFloat8:
		return v.f.Float64, nil
	case oidBool:
		return v.b.Bool, nil
	case oidTimestamptz:
		if v.tz.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("infinite timestamp cannot be read as a time")
		}
		return v.tz.Time.UTC(), nil
	case oidTimestamp:
		if v.ts.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("infinite timestamp cannot be read as a time")
		}
		return s.wallToUTC(v.ts.Time, false)
	case oidDate:
		if v.d.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("infinite date cannot be read as a time")
		}
		d := v.d.Time
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	switch c.oid {
	case oidNumeric:
		return connector.Decimal(v.t.String), nil
	case oidJSON, oidJSONB:
		return decodeJSON(v.t.String)
	}
	return v.t.String, nil
}

// decodeJSON decodes a JSON document keeping numbers exact (json.Number).
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode json: trailing data")
	}
	return out, nil
}
