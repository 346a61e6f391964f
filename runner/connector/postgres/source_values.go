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

// NonexistentWallTime is the value read from a timestamp-without-time-zone column whose
// wall time the declared zone skips (the hour lost when clocks move forward): it has no
// instant, and a guessed one would be a silent change. The mapping takes it as no type, so
// a mapped field holding one is a record error; a cursor column holding one makes the
// record fail through Source.RecordError.
type NonexistentWallTime struct {
	// Wall is the column's wall time, "2006-01-02 15:04:05.999999".
	Wall string
	// Zone is the declared IANA zone.
	Zone string
}

// String renders the value for record errors, short enough for the mapping's (which
// prefix the type name).
func (v NonexistentWallTime) String() string {
	return fmt.Sprintf("%s in %s", v.Wall, v.Zone)
}

// wallToUTC reads a timestamp-without-time-zone value (wall clock, carried as UTC) as a
// wall time in the declared zone. ok is false for a wall time the zone skips (clocks
// moving forward): it has no instant. A repeated wall time (clocks moving back) maps to
// one of its instants, the same one every time, which keeps the order.
func wallToUTC(w time.Time, loc *time.Location) (t time.Time, ok bool) {
	t = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	b := t.In(loc)
	if b.Year() != w.Year() || b.YearDay() != w.YearDay() || b.Hour() != w.Hour() || b.Minute() != w.Minute() || b.Second() != w.Second() {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// wallOf is the wall time of t in loc, carried as UTC (the form of a timestamp column).
func wallOf(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
}

// gapOf returns the end of the gap holding the skipped wall time w (carried as UTC): the
// instant at which the zone's clocks moved forward past w.
func gapOf(w time.Time, loc *time.Location) time.Time {
	// time.Date picks one of the offsets around the transition; the transition is the
	// start of that offset's period, or the end of it.
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	start, end := t.ZoneBounds()
	if wallOf(start, loc).After(w) {
		return start
	}
	return end
}

// gapAt reports whether t is the instant at which loc's clocks move forward, and the gap's
// skipped wall times [from, to) (carried as UTC).
func gapAt(t time.Time, loc *time.Location) (from, to time.Time, ok bool) {
	_, before := t.Add(-time.Nanosecond).In(loc).Zone()
	_, after := t.In(loc).Zone()
	if after <= before {
		return time.Time{}, time.Time{}, false
	}
	to = wallOf(t, loc)
	return to.Add(-time.Duration(after-before) * time.Second), to, true
}

// gapMarker is the cursor time of every row whose cursor wall time lies in the gap ending
// at end: one nanosecond before the gap's end, after every earlier instant PostgreSQL can
// hold and before the end itself. Rows sharing it are ordered by id alone.
func gapMarker(end time.Time) time.Time { return end.Add(-time.Nanosecond) }

// collect reads all rows into records.
func (s *Source) collect(rows pgx.Rows, capacity int) ([]connector.Record, error) {
	recs, _, err := s.collectBudget(rows, capacity, 0)
	return recs, err
}

// collectBudget is collect that stops after the row with which the rows' column data
// reach budget bytes (0: no budget), reporting full; the first row is always taken.
func (s *Source) collectBudget(rows pgx.Rows, capacity, budget int) ([]connector.Record, bool, error) {
	defer rows.Close()
	size := 0
	if capacity > 10000 {
		capacity = 10000
	}
	recs := s.recordSlice(capacity)
	reuse := s.takeMaps(nil, capacity)  // handed back by Recycle; new maps once they run out
	defer func() { s.putMaps(reuse) }() // the ones this page did not need
	targets := make([]any, len(s.cols))
	vals := make([]scanValue, len(s.cols))
	for i, c := range s.cols {
		targets[i] = vals[i].target(c)
	}
	for rows.Next() {
		if budget > 0 {
			for _, v := range rows.RawValues() {
				size += len(v)
			}
		}
		if err := rows.Scan(targets...); err != nil {
			return nil, false, err
		}
		var fields map[string]any
		if n := len(reuse); n > 0 {
			fields, reuse[n-1] = reuse[n-1], nil
			reuse = reuse[:n-1]
		} else {
			fields = make(map[string]any, len(s.cols))
		}
		rec := connector.Record{Fields: fields}
		for i, c := range s.cols {
			v, err := vals[i].value(s, c)
			if err != nil {
				return nil, false, fmt.Errorf("column %q: %w", c.name, err)
			}
			rec.Fields[c.name] = v
		}
		id, err := s.recordID(rec.Fields)
		if err != nil {
			return nil, false, err
		}
		rec.ID = id
		if s.updIdx < 0 { // read only by id: no cursor time
			recs = append(recs, rec)
			if budget > 0 && size >= budget {
				return recs, true, nil
			}
			continue
		}
		upd := s.cols[s.updIdx]
		if !vals[s.updIdx].valid() {
			return nil, false, fmt.Errorf("record %s: NULL updated_at column %q", rec.ID, upd.name)
		}
		if s.loc != nil {
			w := vals[s.updIdx].ts.Time
			if t, ok := wallToUTC(w, s.loc); ok {
				rec.UpdatedAt = t
			} else {
				// Field value already NonexistentWallTime; the row sorts with its gap.
				rec.UpdatedAt = gapMarker(gapOf(w, s.loc))
			}
		} else {
			rec.UpdatedAt = rec.Fields[upd.name].(time.Time)
		}
		recs = append(recs, rec)
		if budget > 0 && size >= budget {
			return recs, true, rows.Err()
		}
	}
	return recs, false, rows.Err()
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
		if t, ok := wallToUTC(v.ts.Time, s.zone); ok {
			return t, nil
		}
		return NonexistentWallTime{Wall: v.ts.Time.Format("2006-01-02 15:04:05.999999"), Zone: s.zone.String()}, nil
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

// RecordError reports what makes a record read by this source unusable, or nil: a cursor
// wall time its declared zone skips has no instant, so the record cannot be placed in the
// sync order as the table has it. The record is still read (at the end of its gap, ordered
// by id) so that the run goes on; the caller reports it as failed. Zone-less fields other
// than the cursor hold a NonexistentWallTime, which the mapping refuses where it reads it.
func (s *Source) RecordError(rec connector.Record) error {
	if s.updIdx < 0 {
		return nil
	}
	name := s.cols[s.updIdx].name
	if v, ok := rec.Fields[name].(NonexistentWallTime); ok {
		return &connector.RecordError{ID: rec.ID, Field: name, Reason: "wall time does not exist in time zone", Detail: v.String()}
	}
	return nil
}

// recordID is the record id of a row's fields: its id column's value as text. A NULL id
// is an error naming the column.
func (s *Source) recordID(fields map[string]any) (string, error) {
	switch id := fields[s.cols[s.idIdx].name].(type) {
	case int64:
		return strconv.FormatInt(id, 10), nil
	case string:
		return id, nil
	}
	return "", fmt.Errorf("row with NULL id column %q", s.cols[s.idIdx].name)
}
