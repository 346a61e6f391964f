package postgres

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// ReadByKeys returns the live rows (not soft-deleted) holding these keys, in one query;
// keys without such a row are absent. Values are keyed by mapped field and converted to
// the field's mapped type (SinkConfig.FieldTypes) where the column allows: text columns as
// string, integer columns as int64, numeric columns as connector.Decimal for decimal fields
// and fields of no declared type (int64 for int fields), boolean as bool, timestamp columns as time.Time in UTC (a
// timestamp without time zone holds the UTC wall time the sink wrote), json and jsonb as
// connector.JSON; other columns in their text form. NULL is nil.
func (s *Sink) ReadByKeys(ctx context.Context, keys []string) ([]connector.SinkRecord, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.qRead, keys)
	if err != nil {
		return nil, fmt.Errorf("read %d rows of %q by key: %w", len(keys), s.rel.name, err)
	}
	defer rows.Close()
	var out []connector.SinkRecord
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("read rows of %q by key: %w", s.rel.name, err)
		}
		rec := connector.SinkRecord{Values: make(map[string]any, len(vals)-2)}
		rec.Key, _ = vals[0].(string)
		if t, ok := vals[1].(time.Time); ok {
			rec.SourceUpdatedAt = t.UTC()
		}
		i := 2
		for _, v := range s.vals {
			if v.softDl {
				continue
			}
			val, err := s.typed(v, vals[i])
			if err != nil {
				return nil, fmt.Errorf("read row %q of %q: column %q: %w", rec.Key, s.rel.name, v.col.name, err)
			}
			rec.Values[v.field] = val
			i++
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows of %q by key: %w", s.rel.name, err)
	}
	return out, nil
}

// typed converts a column's value as read to the Go type of its field's mapped type.
func (s *Sink) typed(v sinkColumn, val any) (any, error) {
	if val == nil {
		return nil, nil
	}
	typ := s.types[v.field]
	switch x := val.(type) {
	case int16:
		val = int64(x)
	case int32:
		val = int64(x)
	case float32:
		val = float64(x)
	case time.Time:
		return x.UTC(), nil
	}
	switch v.fam {
	case famJSON:
		str, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("json read as %T", val)
		}
		return connector.JSON(str), nil
	case famText:
		str, ok := val.(string)
		if !ok {
			return val, nil
		}
		switch {
		case typ == connector.TypeDecimal || (typ == "" && v.col.category == 'N'):
			if _, ok := new(big.Rat).SetString(str); ok {
				return connector.Decimal(str), nil
			}
		case typ == connector.TypeInt:
			if n, err := strconv.ParseInt(str, 10, 64); err == nil {
				return n, nil
			}
		}
		return str, nil
	case famInt:
		if n, ok := val.(int64); ok && typ == connector.TypeDecimal {
			return connector.Decimal(strconv.FormatInt(n, 10)), nil
		}
	}
	return val, nil
}
