package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Full key reconciliation: keys are listed as text in byte order (COLLATE "C", whatever the
// column's or the database's collation), streamed by one query, so that the engine can
// merge them with Go's string order in bounded memory.

// keyQueries are the sink's statements acting on keys only.
type keyQueries struct {
	list       string // $1: after; every key after it, ascending in byte order
	deleteHard string // $1: keys, $2: times; deletes rows not newer than their time, returns their keys
	softDelete string // $1: keys, $2: times; marks unmarked rows not newer than their time, returns their keys
	stale      string // $1: keys, $2: times; the keys of rows newer than their time
	count      string // the number of keys, rows marked deleted left out
	digest     string // $1, $2: digest seeds; the KeyDigest of the listed keys (keys_digest.go)
}

// byteOrdered reports whether column name of the relation already compares in byte order
// (its collation, or the database's default it uses, is C or POSIX), so that its unique
// index serves the key listing without a sort.
func byteOrdered(ctx context.Context, pool *pgxpool.Pool, rel *relation, name string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `
SELECT coalesce(c.collname IN ('C', 'POSIX') OR (c.collname = 'default' AND d.datcollate IN ('C', 'POSIX')), false)
FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
JOIN pg_database d ON d.datname = current_database()
WHERE a.attrelid = $1 AND a.attname = $2`, rel.oid, name).Scan(&ok)
	return ok, err
}

// buildKeySQL prepares the key statements of the sink (key and sua: the key and source
// updated-at columns, sua unused when the sink is unversioned; byteOrder: the key column
// compares in byte order already).
func (s *Sink) buildKeySQL(key, sua column, byteOrder bool) {
	table := s.rel.ident.Sanitize()
	k, u := quote(key.name), quote(sua.name)
	// ORDER BY the key's own (byte) order lets the unique index serve the listing; any
	// other collation is sorted as bytes.
	kc := k + `::text COLLATE "C"`
	if byteOrder {
		kc = k
	}
	s.keyq.list = fmt.Sprintf(`SELECT %[1]s::text FROM %[2]s WHERE %[1]s IS NOT NULL AND %[3]s > $1::text ORDER BY %[3]s`, k, table, kc)
	s.keyq.count = fmt.Sprintf(`SELECT count(*) FROM %[2]s WHERE %[1]s IS NOT NULL`, k, table)
	s.keyq.digest = digestSQL(k+"::text", table, k+" IS NOT NULL")
	if s.qHashes != "" && byteOrder {
		// The rows of a key range in index order (StoredHashes), NULL hashes included so
		// that the limit bounds the rows the range reads.
		s.qHashRange = fmt.Sprintf(`SELECT %[1]s::text, %[3]s::text FROM %[2]s WHERE %[1]s >= $1::text AND %[1]s <= $2::text ORDER BY %[1]s LIMIT $3`,
			k, table, quote(s.hashCol.name))
	}
	const d = `(SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS d(k, u)) AS d`
	// A row holding a source version newer than its deletion time stays (Stale). An
	// unversioned sink (Snapshot mode) stores no version: nothing is stale.
	notNewer := fmt.Sprintf("(t.%[1]s IS NULL OR t.%[1]s <= d.u)", u)
	s.keyq.stale = fmt.Sprintf(`SELECT t.%[2]s::text FROM %[1]s AS t JOIN %[4]s ON t.%[2]s = d.k WHERE t.%[3]s > d.u`, table, k, u, d)
	if s.unversioned {
		notNewer = "true"
		s.keyq.stale = fmt.Sprintf(`SELECT d.k FROM %s WHERE false`, d)
	}
	s.keyq.deleteHard = fmt.Sprintf(`DELETE FROM %[1]s AS t USING %[3]s WHERE t.%[2]s = d.k AND %[4]s RETURNING t.%[2]s::text`, table, k, d, notNewer)
	for _, v := range s.vals {
		if !v.softDl {
			continue
		}
		at := "d.u"
		if v.col.oid == oidTimestamp {
			at = "(d.u AT TIME ZONE 'UTC')"
		}
		dl := quote(v.col.name)
		// Rows already marked are deleted: they are not listed (not counted by the valve
		// again, not marked again).
		s.keyq.list = fmt.Sprintf(`SELECT %[1]s::text FROM %[2]s WHERE %[1]s IS NOT NULL AND %[3]s IS NULL AND %[4]s > $1::text ORDER BY %[4]s`, k, table, dl, kc)
		s.keyq.count = fmt.Sprintf(`SELECT count(*) FROM %[2]s WHERE %[1]s IS NOT NULL AND %[3]s IS NULL`, k, table, dl)
		s.keyq.digest = digestSQL(k+"::text", table, k+" IS NOT NULL AND "+dl+" IS NULL")
		s.keyq.softDelete = fmt.Sprintf(`UPDATE %[1]s AS t SET %[3]s = %[4]s FROM %[5]s WHERE t.%[2]s = d.k AND t.%[3]s IS NULL AND %[6]s RETURNING t.%[2]s::text`,
			table, k, dl, at, d, notNewer)
	}
}

// Keys lists the external keys of the table after `after`, ascending in byte order
// (connector.KeyLister), in one streamed query. Under DeleteSoft, rows already marked
// deleted are not listed.
func (s *Sink) Keys(ctx context.Context, after string) iter.Seq2[string, error] {
	return streamText(ctx, s.pool, s.keyq.list, "", after, fmt.Sprintf("list keys of %q", s.rel.name))
}

// CountKeys counts the table's keys (connector.KeyCounter), whatever their stored source
// version (none in Snapshot mode); under DeleteSoft, rows already marked deleted are left
// out, as from the key listing.
func (s *Sink) CountKeys(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, s.keyq.count).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys of %q: %w", s.rel.name, err)
	}
	return n, nil
}

// DeleteKeys removes (DeleteHard) or marks (DeleteSoft: the soft-delete column set to the
// deletion time, other columns left alone) the rows of the keys, in one transaction
// (connector.KeyDeleter). A row holding a source version newer than its deletion time is
// left alone (Stale); a missing row, or one already marked, is Unchanged; under
// DeleteIgnore every key is Unchanged. A key listed twice shares one outcome.
func (s *Sink) DeleteKeys(ctx context.Context, dels []connector.KeyDelete) ([]connector.Result, error) {
	results := make([]connector.Result, len(dels))
	for i := range results {
		results[i] = connector.Result{Outcome: connector.Unchanged}
	}
	if len(dels) == 0 || s.deleteMode == DeleteIgnore {
		return results, nil
	}
	q := s.keyq.deleteHard
	if s.deleteMode == DeleteSoft {
		q = s.keyq.softDelete
	}
	keys := make([]string, len(dels))
	ats := make([]time.Time, len(dels))
	for i, d := range dels {
		keys[i], ats[i] = d.Key, d.At.UTC().Truncate(time.Microsecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome := make(map[string]connector.Outcome, len(keys))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := collect(ctx, tx, q, keys, ats, connector.Written, outcome); err != nil {
			return err
		}
		return collect(ctx, tx, s.keyq.stale, keys, ats, connector.Stale, outcome)
	})
	if err != nil {
		return nil, fmt.Errorf("delete %d keys of %q: %w", len(keys), s.rel.name, err)
	}
	for i, k := range keys {
		if o, ok := outcome[k]; ok {
			results[i] = connector.Result{Outcome: o}
		}
	}
	return results, nil
}

// collect runs q over keys and their times and records outcome o for each key it returns
// (a key already decided keeps its outcome).
func collect(ctx context.Context, tx pgx.Tx, q string, keys []string, ats []time.Time, o connector.Outcome, into map[string]connector.Outcome) error {
	rows, err := tx.Query(ctx, q, keys, ats)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		if _, ok := into[k]; !ok {
			into[k] = o
		}
	}
	return rows.Err()
}

// FieldValues lists the text form of column field of every row after `after`, ascending in
// byte order (connector.FieldLister), streamed. The column must exist and be an integer,
// text (text, varchar, char) or uuid column: those whose PostgreSQL text form is the text
// form the mapping gives the field's value (string(record.<field>)). The whole listing of
// an integer column with a btree index is read in index order, group by group of equal
// text length, without a sort (keys_int.go); anything else is one query sorted as text.
func (s *Source) FieldValues(ctx context.Context, field, after string) iter.Seq2[string, error] {
	return s.PrefixedFieldValues(ctx, field, "", after)
}

// PrefixedFieldValues is FieldValues with prefix before each value
// (connector.PrefixedFieldLister): made in place, not a second time.
func (s *Source) PrefixedFieldValues(ctx context.Context, field, prefix, after string) iter.Seq2[string, error] {
	c, ok := s.rel.columns[field]
	var why string
	switch {
	case !ok:
		why = "no such column"
	case c.oid == oidInt2 || c.oid == oidInt4 || c.oid == oidInt8 || c.oid == oidUUID || c.category == 'S':
	default:
		why = fmt.Sprintf("column is %s, want an integer, text or uuid column", c.full)
	}
	if why != "" {
		return func(yield func(string, error) bool) {
			yield("", fmt.Errorf("list values of column %q of %q: %s", field, s.rel.name, why))
		}
	}
	what := fmt.Sprintf("list values of column %q of %q", field, s.rel.name)
	if after == "" && (c.oid == oidInt2 || c.oid == oidInt4 || c.oid == oidInt8) {
		// The whole listing of an indexed integer column: index range scans, no sort
		// (keys_int.go).
		seq, ok, err := s.intFieldValues(ctx, field, prefix, what)
		if err != nil {
			return func(yield func(string, error) bool) { yield("", fmt.Errorf("%s: %w", what, err)) }
		}
		if ok {
			return seq
		}
	}
	q := fmt.Sprintf(`SELECT %[1]s::text COLLATE "C" AS k FROM %[2]s WHERE %[1]s IS NOT NULL AND %[1]s::text COLLATE "C" > $1::text ORDER BY 1`, quote(field), s.rel.ident.Sanitize())
	if after == "" {
		// The whole listing of a column whose own order is byte order of its text (uuid;
		// text or varchar compared in byte order) with a btree index: in index order, no
		// sort.
		ok, err := s.ordersAsText(ctx, c, field)
		if err != nil {
			return func(yield func(string, error) bool) { yield("", fmt.Errorf("%s: %w", what, err)) }
		}
		if ok {
			q = fmt.Sprintf(`SELECT %[1]s::text FROM %[2]s WHERE %[1]s IS NOT NULL ORDER BY %[2]s.%[1]s`, quote(field), s.rel.ident.Sanitize())
			return streamCopy(ctx, s.pool, q, prefix, what)
		}
	}
	return streamText(ctx, s.pool, q, prefix, after, what)
}

// ordersAsText reports whether column c (named field) has a btree index leading with it
// and its own order is the byte order of its text form: uuid (16 bytes compared as bytes,
// written as fixed-length lowercase hex), or text or varchar (their text is themselves)
// compared in byte order (byteOrdered).
func (s *Source) ordersAsText(ctx context.Context, c column, field string) (bool, error) {
	switch {
	case c.oid == oidUUID:
	case c.oid == oidText || c.oid == oidVarchar:
		ok, err := byteOrdered(ctx, s.pool, s.rel, field)
		if err != nil || !ok {
			return false, err
		}
	default:
		return false, nil
	}
	return indexed(ctx, s.pool, s.rel, field)
}

// streamText yields prefix + the single text column of query q run with after ($1), row
// by row: as a binary COPY of the query when after is "" (the whole listing, the engine's
// case; $1 is then the literal ”), else as a query.
func streamText(ctx context.Context, pool *pgxpool.Pool, q, prefix, after, what string) iter.Seq2[string, error] {
	if after == "" {
		return streamCopy(ctx, pool, strings.Replace(q, "> $1::text", ">= ''::text", 1), prefix, what)
	}
	return func(yield func(string, error) bool) {
		rows, err := pool.Query(ctx, q, after)
		if err != nil {
			yield("", fmt.Errorf("%s: %w", what, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				yield("", fmt.Errorf("%s: %w", what, err))
				return
			}
			if !yield(prefix+k, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield("", fmt.Errorf("%s: %w", what, err))
		}
	}
}

var (
	_ connector.KeyLister   = (*Sink)(nil)
	_ connector.KeyDeleter  = (*Sink)(nil)
	_ connector.KeyCounter  = (*Sink)(nil)
	_ connector.FieldLister = (*Source)(nil)

	_ connector.PrefixedFieldLister = (*Source)(nil)
)

// errStopped ends a COPY whose consumer stopped early.
var errStopped = errors.New("listing stopped by its consumer")

// streamCopy yields prefix + the single text column of query q (no parameters) row by row, read as
// one binary COPY (copyBinary): much cheaper per row than a query's result rows, for
// listings of millions of keys. Keys are handed over in runs of about arenaBytes
// (keyArena), from the goroutine reading the connection, while the COPY is open. Stopping
// early ends the COPY (its connection is closed, not reused).
func streamCopy(ctx context.Context, pool *pgxpool.Pool, q, prefix, what string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			yield("", fmt.Errorf("%s: %w", what, err))
			return
		}
		defer conn.Release()
		// The listing may sort (a collation other than C, or integer ids as text): give
		// the sort room in memory rather than spilling to disk; reset before the
		// connection goes back to the pool.
		if _, err := conn.Exec(ctx, "SET work_mem = '64MB'"); err != nil {
			yield("", fmt.Errorf("%s: %w", what, err))
			return
		}
		b := keyArena{prefix: prefix}
		stopped := false
		_, err = copyBinary(ctx, conn.Conn().PgConn(), q, func(f [][]byte) error {
			if len(f) != 1 {
				return fmt.Errorf("COPY row has %d columns, want 1", len(f))
			}
			if f[0] == nil {
				return nil // NULL: not a key (the queries exclude them)
			}
			if b.add(f[0]) && !b.drain(yield) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
			if !stopped {
				yield("", fmt.Errorf("%s: %w", what, err))
			}
			return
		}
		if _, err := conn.Exec(ctx, "RESET work_mem"); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		b.drain(yield)
	}
}
