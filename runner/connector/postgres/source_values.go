package postgres

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/checkpointed/checkpointed/runner/connector"
)

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
