package postgres

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"sync"

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

// batches is one ascending stream read in runs of keys: each call returns the next run
// (an empty run: the stream has ended).
type batches func() (keyRun, error)

// mergeHead is a stream being merged and its current key.
type mergeHead struct {
	next batches
	run  keyRun
	pos  int
	key  string // run.key(pos)
}

// advance moves to the stream's next key; ended: there is none.
func (h *mergeHead) advance() (ended bool, err error) {
	if h.pos++; h.pos < h.run.len() {
		h.key = h.run.key(h.pos)
		return false, nil
	}
	r, err := h.next()
	if err != nil || r.len() == 0 {
		return err == nil, err
	}
	h.run, h.pos, h.key = r, 0, r.key(0)
	return false, nil
}

// mergeAscending merges streams, each strictly ascending in byte order and holding keys no
// other stream holds, into one strictly ascending sequence. It holds one run per stream.
// A stream out of order, or a key in two streams, ends the sequence with an error: a
// listing out of order would make the reconciliation report keys as missing that are not.
// Keys are taken from the smallest stream as long as they stay below every other stream's
// current key: one comparison per key where streams interleave in stretches.
func mergeAscending(streams []batches, yield func(string, error) bool) {
	heads := make([]*mergeHead, 0, len(streams))
	for _, s := range streams {
		r, err := s()
		if err != nil {
			yield("", err)
			return
		}
		if r.len() > 0 {
			heads = append(heads, &mergeHead{next: s, run: r, key: r.key(0)})
		}
	}
	var prev string
	started := false
	for len(heads) > 0 {
		best := 0
		for i := 1; i < len(heads); i++ {
			if heads[i].key < heads[best].key {
				best = i
			}
		}
		var bound string // the smallest current key of the other streams
		hasBound := false
		for i, h := range heads {
			if i != best && (!hasBound || h.key < bound) {
				bound, hasBound = h.key, true
			}
		}
		h := heads[best]
		for {
			k := h.key
			if started && k <= prev {
				yield("", fmt.Errorf("values are not ascending in byte order: %q after %q", k, prev))
				return
			}
			prev, started = k, true
			ended, err := h.advance()
			if err != nil {
				yield("", err)
				return
			}
			if !yield(k, nil) {
				return
			}
			if ended {
				heads = append(heads[:best], heads[best+1:]...)
				break
			}
			if hasBound && h.key >= bound {
				break
			}
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

// Reading the groups. The largest groups (by the range of values they can hold) are each
// streamed by a binary COPY on a connection of their own (copyBinary), so that they are
// read at the speed of the server's index scans, concurrently, without a round trip per
// batch; the other groups are read by FETCH from cursors on the listing's transaction.
// Every connection reads the same snapshot (pg_export_snapshot), as one query would.
const (
	// maxCopyGroups bounds the groups streamed by COPY, each on a connection of the
	// source's pool besides the transaction's (SourceOptions.MaxConns bounds them all).
	maxCopyGroups = 2
	// copyGroupMin is the smallest range of values a group streamed by COPY can hold:
	// smaller groups take a few FETCHes.
	copyGroupMin = 4 * fetchBatch
	// aheadDepth is how many runs of keys (keyArena) a group's stream reads ahead of
	// the merge.
	aheadDepth = 8
)

// intFieldValues lists the decimal text of integer column field in byte order (see
// above), in one read-only repeatable-read transaction: one snapshot for every group, the
// largest groups each streamed by a COPY on a connection of its own that imports the
// transaction's snapshot, the others read by FETCH from a cursor per group. Each group is
// read in its own goroutine, a few batches ahead of the merge. ok false: the column has no
// btree index leading with it, so the groups could not be read in order without sorting
// each; the caller lists it by a sort instead.
func (s *Source) intFieldValues(ctx context.Context, field, prefix, what string) (seq iter.Seq2[string, error], ok bool, err error) {
	has, err := indexed(ctx, s.pool, s.rel, field)
	if err != nil || !has {
		return nil, false, err
	}
	col, table := quote(field), s.rel.ident.Sanitize()
	return func(yield func(string, error) bool) {
		fail := func(err error) { yield("", fmt.Errorf("%s: %w", what, err)) }
		// COPY streams take the pool's connections left besides the transaction's, so
		// that none waits for a connection someone else holds.
		st := s.pool.Stat()
		copies := min(maxCopyGroups, int(st.MaxConns()-st.AcquiredConns())-1)
		tx, lo, hi, snapshot, err := s.beginIntListing(ctx, col, table, copies > 0)
		if err != nil {
			fail(err)
			return
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if lo == nil {
			return // no rows
		}
		if snapshot == "" {
			copies = 0
		}
		groups := intGroups(*lo, *hi)
		byCopy := copyGroups(groups, copies)

		// Stopping: each stream ends at its next hand-over (a COPY's connection is then
		// closed), FETCHes are left, the transaction is rolled back.
		done := make(chan struct{})
		var wg sync.WaitGroup
		defer func() {
			close(done)
			wg.Wait()
		}()
		queries := make([]string, len(groups))
		var declare strings.Builder
		for i, g := range groups {
			dir := "ASC"
			if g.desc {
				dir = "DESC"
			}
			// Sent as text to a cursor (FETCH in text), as int8 to a COPY: binary int8 is
			// cheaper to send than the text form, made here.
			typ := "text"
			if byCopy[i] {
				typ = "int8"
			}
			// ORDER BY the table's column, not the output column of the same name (its text).
			queries[i] = fmt.Sprintf(`SELECT %[1]s::%[6]s FROM %[2]s WHERE %[1]s BETWEEN %[3]d AND %[4]d ORDER BY %[2]s.%[1]s %[5]s`, col, table, g.lo, g.hi, dir, typ)
			if !byCopy[i] {
				fmt.Fprintf(&declare, "DECLARE checkpointed_keys_%d NO SCROLL CURSOR FOR %s;\n", i, queries[i])
			}
		}
		if declare.Len() > 0 { // every cursor in one round trip, before the FETCHes share the transaction
			if _, err := tx.Exec(ctx, declare.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
				fail(err)
				return
			}
		}
		var txMu sync.Mutex // the transaction serves every FETCH group
		streams := make([]batches, len(groups))
		for i := range groups {
			if byCopy[i] {
				streams[i] = ahead(done, &wg, func(emit func(keyRun) bool) error {
					return s.copyGroup(ctx, snapshot, queries[i], prefix, emit)
				})
				continue
			}
			fetch := fmt.Sprintf(`FETCH FORWARD %d FROM checkpointed_keys_%d`, fetchBatch, i)
			streams[i] = ahead(done, &wg, func(emit func(keyRun) bool) error {
				return fetchGroup(ctx, tx, &txMu, fetch, prefix, emit)
			})
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

// beginIntListing starts the listing's read-only repeatable-read transaction and reads the
// column's smallest and largest values (nil: no rows) and, when export is set, the
// transaction's snapshot for other connections to import ("" when the server cannot
// export one: every group is then read by FETCH).
func (s *Source) beginIntListing(ctx context.Context, col, table string, export bool) (tx pgx.Tx, lo, hi *int64, snapshot string, err error) {
	for {
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, nil, nil, "", err
		}
		if export {
			err = tx.QueryRow(ctx, fmt.Sprintf(`SELECT min(%[1]s)::int8, max(%[1]s)::int8, pg_export_snapshot() FROM %[2]s`, col, table)).Scan(&lo, &hi, &snapshot)
		} else {
			err = tx.QueryRow(ctx, fmt.Sprintf(`SELECT min(%[1]s)::int8, max(%[1]s)::int8 FROM %[2]s`, col, table)).Scan(&lo, &hi)
		}
		if err == nil {
			return tx, lo, hi, snapshot, nil
		}
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if !export || ctx.Err() != nil {
			return nil, nil, nil, "", err
		}
		export = false // a server that exports no snapshot (a standby before PostgreSQL 10): FETCH only
	}
}

// copyGroups picks the groups streamed by COPY: the n largest by the range of values they
// can hold, among those of at least copyGroupMin.
func copyGroups(groups []intGroup, n int) []bool {
	out := make([]bool, len(groups))
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	size := func(g intGroup) uint64 { return uint64(g.hi - g.lo) } // within one sign: no overflow
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(size(groups[b]), size(groups[a])) })
	for _, i := range order[:min(n, len(order))] {
		if size(groups[i]) >= copyGroupMin {
			out[i] = true
		}
	}
	return out
}

// copyGroup streams the text of the values of one group (query q, its values as int8) by
// a binary COPY on a connection of its own, in the listing's snapshot, run by run.
func (s *Source) copyGroup(ctx context.Context, snapshot, q, prefix string, emit func(keyRun) bool) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	reuse := false
	defer func() {
		if !reuse {
			_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
		}
		conn.Release()
	}()
	pc := conn.Conn().PgConn()
	if err := pc.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT "+quoteLiteral(snapshot)).Close(); err != nil {
		return err
	}
	b := keyArena{prefix: prefix}
	if _, err := copyBinary(ctx, pc, q, func(f [][]byte) error {
		if len(f) != 1 || len(f[0]) != 8 {
			return fmt.Errorf("COPY row of %d columns, want one int8", len(f))
		}
		if b.addInt(int64(binary.BigEndian.Uint64(f[0]))) && !emit(b.take()) {
			return errStopped
		}
		return nil
	}); err != nil {
		return err
	}
	if !emit(b.take()) {
		return errStopped
	}
	if err := pc.Exec(ctx, "ROLLBACK").Close(); err != nil {
		return err
	}
	reuse = true
	return nil
}

// fetchGroup reads a group's cursor on the listing's transaction FETCH by FETCH (mu
// serialises the transaction's users), and hands over its runs.
func fetchGroup(ctx context.Context, tx pgx.Tx, mu *sync.Mutex, fetch, prefix string, emit func(keyRun) bool) error {
	b := keyArena{prefix: prefix}
	for {
		n := 0
		var runs []keyRun
		mu.Lock()
		// The simple protocol answers in text: an integer's text is its decimal form.
		rows, err := tx.Query(ctx, fetch, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			mu.Unlock()
			return err
		}
		for rows.Next() {
			n++
			if b.add(rows.RawValues()[0]) {
				runs = append(runs, b.take())
			}
		}
		rows.Close()
		err = rows.Err()
		mu.Unlock()
		if err != nil {
			return err
		}
		if b.len() > 0 {
			runs = append(runs, b.take())
		}
		for _, r := range runs {
			if !emit(r) {
				return errStopped
			}
		}
		if n < fetchBatch {
			return nil
		}
	}
}

// aheadBatch is one run of a group's values, or the error that ended the group.
type aheadBatch struct {
	run keyRun
	err error
}

// ahead runs produce in a goroutine (counted in wg) that hands the runs it emits over
// through a channel, up to aheadDepth runs ahead of the reader; the returned batches reads
// them (an empty run: the end). emit reports false once done is closed: produce should
// then return (errStopped). An error of produce is the stream's last batch.
func ahead(done <-chan struct{}, wg *sync.WaitGroup, produce func(emit func(keyRun) bool) error) batches {
	ch := make(chan aheadBatch, aheadDepth)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		send := func(b aheadBatch) bool {
			select {
			case ch <- b:
				return true
			case <-done:
				return false
			}
		}
		err := produce(func(r keyRun) bool { return r.len() == 0 || send(aheadBatch{run: r}) })
		if err != nil && !errors.Is(err, errStopped) {
			send(aheadBatch{err: err})
		}
	}()
	return func() (keyRun, error) {
		b, ok := <-ch
		if !ok {
			return keyRun{}, nil
		}
		return b.run, b.err
	}
}
