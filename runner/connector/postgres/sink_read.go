package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// buildReadSQL prepares ReadByKeys' query: the key, the stored source updatedAt and every
// mapped column, in the Go types of connector.WriteRecord values where the column's family
// has one (int64, float64, bool, time.Time, connector.JSON) and in PostgreSQL's text form
// otherwise (numeric, uuid, text).
func (s *Sink) buildReadSQL(key, sua column) {
	exprs := []string{quote(key.name) + "::text", quote(sua.name)}
	for _, v := range s.vals {
		if v.softDl {
			continue
		}
		c := quote(v.col.name)
		switch v.fam {
		case famInt:
			exprs = append(exprs, c+"::bigint")
		case famFloat:
			exprs = append(exprs, c+"::double precision")
		case famBool, famTime:
			exprs = append(exprs, c)
		default: // text, json (as its text), numeric, uuid, ...
			exprs = append(exprs, c+"::text")
		}
	}
	s.qRead = fmt.Sprintf("SELECT %s FROM %s WHERE %s::text = ANY($1::text[])",
		strings.Join(exprs, ", "), s.rel.ident.Sanitize(), quote(key.name))
}

// ReadByKeys returns the stored rows of keys: the mapped columns by field name and the
// stored source updatedAt. Keys without a row are absent.
func (s *Sink) ReadByKeys(ctx context.Context, keys []string) ([]connector.SinkRecord, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.qRead, keys)
	if err != nil {
		return nil, fmt.Errorf("read %d keys from %q: %w", len(keys), s.rel.name, err)
	}
	defer rows.Close()
	var out []connector.SinkRecord
	for rows.Next() {
		var (
			key string
			sua *time.Time
		)
		vals := make([]any, 0, len(s.vals))
		dest := []any{&key, &sua}
		fields := make([]*sinkColumn, 0, len(s.vals))
		for i := range s.vals {
			if s.vals[i].softDl {
				continue
			}
			fields = append(fields, &s.vals[i])
			vals = append(vals, nil)
		}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("read keys from %q: %w", s.rel.name, err)
		}
		rec := connector.SinkRecord{Key: key, Values: make(map[string]any, len(fields))}
		if sua != nil {
			rec.SourceUpdatedAt = sua.UTC()
		}
		for i, v := range fields {
			val := vals[i]
			if t, ok := val.(time.Time); ok {
				val = t.UTC()
			}
			if str, ok := val.(string); ok {
				switch v.col.oid {
				case oidJSON, oidJSONB:
					val = connector.JSON(str)
				case oidNumeric:
					val = connector.Decimal(str)
				}
			}
			rec.Values[v.field] = val
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys from %q: %w", s.rel.name, err)
	}
	return out, nil
}
