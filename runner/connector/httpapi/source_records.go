package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/connector/httpapi/transport"
)

// recordError says why a listed record cannot be read.
type recordError struct {
	id    string // "" when the id itself is at fault
	field string
	msg   string
}

func (e *recordError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return fmt.Sprintf("field %s: %s", e.field, e.msg)
}

// parseRecord reads one record object.
func (s *Source) parseRecord(item any) (connector.Record, error) {
	obj, ok := item.(map[string]any)
	if !ok {
		return connector.Record{}, &recordError{msg: fmt.Sprintf("a %s is not a JSON object", jsonKind(item))}
	}
	idv, ok := transport.Lookup(obj, s.cfg.IDPath)
	if !ok || idv == nil {
		return connector.Record{}, &recordError{field: s.cfg.IDPath, msg: "the id is missing"}
	}
	id, err := idString(idv)
	if err != nil {
		return connector.Record{}, &recordError{field: s.cfg.IDPath, msg: "the id: " + err.Error()}
	}
	tv, ok := transport.Lookup(obj, s.cfg.UpdatedAtPath)
	if !ok || tv == nil {
		return connector.Record{}, &recordError{id: id, field: s.cfg.UpdatedAtPath, msg: "the update time is missing"}
	}
	t, err := s.parseTime(tv)
	if err != nil {
		return connector.Record{}, &recordError{id: id, field: s.cfg.UpdatedAtPath, msg: "the update time: " + err.Error()}
	}
	return connector.Record{ID: id, UpdatedAt: t, Fields: obj}, nil
}

// recordAt names the i-th record of an API page (and its id when known) in an error.
func recordAt(i int, err error) error {
	var re *recordError
	if errors.As(err, &re) && re.id != "" {
		return fmt.Errorf("record %d (id %s): %w", i, re.id, err)
	}
	return fmt.Errorf("record %d: %w", i, err)
}

// idString turns an id value into its string form: a non-empty string as is, an integer
// number in decimal.
func idString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return "", errors.New("empty")
		}
		return t, nil
	case json.Number:
		if _, ok := parseInteger(t.String()); !ok {
			return "", fmt.Errorf("%s is not an integer", t)
		}
		return t.String(), nil
	}
	return "", fmt.Errorf("a %s is not a string or an integer", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// formatTime renders the cursor time for updatedSinceParam: RFC3339 with its full
// fraction, or unix seconds/milliseconds floored (never later than the cursor, so nothing
// is skipped).
func (s *Source) formatTime(t time.Time) string {
	switch s.cfg.TimeFormat {
	case TimeUnixSeconds:
		return strconv.FormatInt(floorDiv(t.UnixNano(), int64(time.Second)), 10)
	case TimeUnixMillis:
		return strconv.FormatInt(floorDiv(t.UnixNano(), int64(time.Millisecond)), 10)
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// parseTime reads a record's update time in the source's format, in UTC.
func (s *Source) parseTime(v any) (time.Time, error) {
	if s.cfg.TimeFormat == TimeRFC3339 {
		str, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("a %s is not an RFC3339 time", jsonKind(v))
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC3339 time", str)
		}
		return t.UTC(), nil
	}
	var num string
	switch t := v.(type) {
	case json.Number:
		num = t.String()
	case string:
		num = strings.TrimSpace(t)
	default:
		return time.Time{}, fmt.Errorf("a %s is not a unix time", jsonKind(v))
	}
	unit := time.Second
	if s.cfg.TimeFormat == TimeUnixMillis {
		unit = time.Millisecond
	}
	t, ok := unixTime(num, unit)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a unix time in %s", num, strings.TrimPrefix(s.cfg.TimeFormat, "Unix"))
	}
	return t, nil
}

// unixTime reads a plain decimal number of units since the epoch exactly (digits beyond
// nanoseconds are dropped).
func unixTime(num string, unit time.Duration) (time.Time, bool) {
	intPart, frac, _ := strings.Cut(num, ".")
	if intPart == "" || intPart == "-" {
		return time.Time{}, false
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole > int64(1<<62)/int64(unit) || whole < -int64(1<<62)/int64(unit) {
		return time.Time{}, false
	}
	var fracNanos int64
	if frac != "" {
		digits := 9 - len(strconv.FormatInt(int64(time.Second/unit), 10)) + 1 // 9 for s, 6 for ms
		if len(frac) > digits {
			frac = frac[:digits]
		}
		for _, r := range frac {
			if r < '0' || r > '9' {
				return time.Time{}, false
			}
		}
		frac += strings.Repeat("0", digits-len(frac))
		fracNanos, _ = strconv.ParseInt(frac, 10, 64)
		if strings.HasPrefix(intPart, "-") {
			fracNanos = -fracNanos
		}
	}
	return time.Unix(0, whole*int64(unit)+fracNanos).UTC(), true
}
