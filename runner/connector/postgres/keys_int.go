package postgres

import (
	"context"
	"fmt"
	"iter"
	"math"

	"github.com/jackc/pgx/v5"
)

// Integer keys in byte order without a sort. The decimal text of an integer (PostgreSQL's
// and Go's: no leading zeros, "-" for negatives) has a length fixed by its sign and number
// of digits, and among texts of the same sign and length byte order is numeric order
// (non-negative) or its reverse (negative: "-1" < "-2"). So the column's values fall into
// at most 38 groups (intGroups), each listed in byte order by an index range scan on the
// integer column (ascending, or descending for negatives), and merging the groups' streams
// by their text (mergeAscending) gives byte order over all values: the listing PostgreSQL
// would otherwise produce by sorting every value as text.

// intGroup is the integers whose decimal text has one sign and one length: [lo, hi].
type intGroup struct {
	lo, hi int64
	// desc: the group is negative, so byte order of the text is descending numeric order.
	desc bool
}

// intGroups returns the groups of integers of equal decimal-text length and sign that
// meet [lo, hi] (lo <= hi), each cut to [lo, hi], in no particular order.
func intGroups(lo, hi int64) []intGroup {
	var out []intGroup
	add := func(g intGroup) {
		g.lo, g.hi = max(g.lo, lo), min(g.hi, hi)
		if g.lo <= g.hi {
			out = append(out, g)
		}
	}
	p := int64(1) // 10^(d-1)
	for d := 1; d <= 19; d++ {
		top := int64(math.MaxInt64) // 10^d - 1, or the largest int64 for d = 19
		if d < 19 {
			top = p*10 - 1
		}
		first := p
		if d == 1 {
			first = 0
		}
		add(intGroup{lo: first, hi: top})
		bottom := -top // -(10^d - 1)
		if d == 19 {
			bottom = math.MinInt64
		}
		add(intGroup{lo: bottom, hi: -p, desc: true})
		if d < 19 {
			p *= 10
		}
	}
	return out
}

// fetchBatch is how many values one FETCH takes from a group's cursor.
const fetchBatch = 8192

// batches is one ascending stream read in batches: each call returns the next batch (an
// empty batch: the stream has ended).
type batches func() ([]string, error)

// mergeAscending merges streams, each strictly ascending in byte order and holding keys no
// other stream holds, into one strictly ascending sequence. It holds one batch per stream.
// A stream out of order, or a key in two streams, ends the sequence with an error: a
// listing out of order would make the reconciliation report keys as missing that are not.
func mergeAscending(streams []batches, yield func(string, error) bool) {
	type head struct {
		next batches
		buf  []string
		pos  int
	}
	heads := make([]*head, 0, len(streams))
	for _, s := range streams {
		b, err := s()
		if err != nil {
			yield("", err)
			return
		}
		if len(b) > 0 {
			heads = append(heads, &head{next: s, buf: b})
		}
	}
	var prev string
	started := false
	for len(heads) > 0 {
		best := 0
		for i := 1; i < len(heads); i++ {
			if heads[i].buf[heads[i].pos] < heads[best].buf[heads[best].pos] {
				best = i
			}
		}
		h := heads[best]
		k := h.buf[h.pos]
		if started && k <= prev {
			yield("", fmt.Errorf("values are not ascending in byte order: %q after %q", k, prev))
			return
		}
		prev, started = k, true
		if h.pos++; h.pos == len(h.buf) {
			b, err := h.next()
			if err != nil {
				yield("", err)
				return
			}
			if len(b) == 0 {
				heads = append(heads[:best], heads[best+1:]...)
			} else {
				h.buf, h.pos = b, 0
			}
		}
		if !yield(k, nil) {
			return
		}
	}
}

// indexed reports whether a plain btree index (no expression, no predicate) leads with
// column name of the relation: then a range of its values is read in order without a sort.
func indexed(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, rel *relation, name string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `
SELECT EXISTS (
  SELECT 1 FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $2
  WHERE i.indrelid = $1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL
    AND am.amname = 'btree' AND i.indisvalid)`, rel.oid, name).Scan(&ok)
	return ok, err
}

// intFieldValues lists the decimal text of integer column field in byte order (see
// above), in one read-only repeatable-read transaction: one snapshot for every group, one
// connection, one cursor per group read FETCH by FETCH. ok false: the column has no
// btree index leading with it, so the groups could not be read in order without sorting
// each; the caller lists it by a sort instead.
func (s *Source) intFieldValues(ctx context.Context, field, what string) (seq iter.Seq2[string, error], ok bool, err error) {
	has, err := indexed(ctx, s.pool, s.rel, field)
	if err != nil || !has {
		return nil, false, err
	}
	col, table := quote(field), s.rel.ident.Sanitize()
	return func(yield func(string, error) bool) {
		fail := func(err error) { yield("", fmt.Errorf("%s: %w", what, err)) }
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			fail(err)
			return
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		var lo, hi *int64
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT min(%[1]s)::int8, max(%[1]s)::int8 FROM %[2]s`, col, table)).Scan(&lo, &hi); err != nil {
			fail(err)
			return
		}
		if lo == nil {
			return // no rows
		}
		groups := intGroups(*lo, *hi)
		streams := make([]batches, len(groups))
		for i, g := range groups {
			dir := "ASC"
			if g.desc {
				dir = "DESC"
			}
			name := fmt.Sprintf("checkpointed_keys_%d", i)
			decl := fmt.Sprintf(`DECLARE %s NO SCROLL CURSOR FOR SELECT %s FROM %s WHERE %s BETWEEN %d AND %d ORDER BY %s %s`,
				name, col, table, col, g.lo, g.hi, col, dir)
			if _, err := tx.Exec(ctx, decl); err != nil {
				fail(err)
				return
			}
			fetch := fmt.Sprintf(`FETCH FORWARD %d FROM %s`, fetchBatch, name)
			buf := make([]string, 0, fetchBatch)
			streams[i] = func() ([]string, error) {
				// The simple protocol answers in text: an integer's text is its decimal form.
				rows, err := tx.Query(ctx, fetch, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					return nil, err
				}
				defer rows.Close()
				buf = buf[:0]
				for rows.Next() {
					buf = append(buf, string(rows.RawValues()[0]))
				}
				return buf, rows.Err()
			}
		}
		mergeAscending(streams, func(k string, err error) bool {
			if err != nil {
				fail(err)
				return false
			}
			return yield(k, nil)
		})
	}, true, nil
}
