package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Key digests: full key reconciliation first compares a digest of each side's keys, made
// by the server in one pass over the table (no sort, one row sent back), and lists and
// merges the keys only when the digests differ.
//
// A digest is over exactly the rows and the text the listing yields: the same WHERE (key
// not NULL; under DeleteSoft, rows already marked left out) and the same text expression
// (col::text, the prefix before it for a source field). It is the number of keys and two
// exact sums (numeric, never wrapping) of hashtextextended(key, seed), the 64-bit seeded
// hash PostgreSQL uses for hash partitioning, under two seeds the engine draws afresh for
// each reconciliation. Each key is hashed as the bytes of its text: COLLATE "C", since
// under a nondeterministic collation "A" and "a" would hash alike. Byte-equal texts can
// still be different keys in two databases of different encodings, so the method names
// the server encoding: digests of two encodings never compare equal.
//
// Collisions: for two different multisets of keys, the difference of their sums under one
// seed is Σ c_k·h(k) with some c_k ≠ 0; modelling h(·, seed) as a random function, it is 0
// with probability at most 2^-64 (the exact integer sum has at most one root in h(k)),
// and the two seeds make it at most about 2^-128 per reconciliation. hashtextextended
// (Jenkins' lookup3) is not a cryptographic hash, so keys chosen to collide could do
// better, but a collision only makes one reconciliation skip its deletes: the next one
// draws new seeds, and a digest never deletes anything.

// keyDigestMethod names the digest (connector.KeyDigest.Method), before the encoding.
const keyDigestMethod = "postgres:hashtextextended-2sum/v1:"

// digestSQL is the digest query of the text expression key over the rows of table that
// where selects: $1 and $2 are the seeds. It returns the server encoding, the number of
// keys and the two sums.
func digestSQL(key, table, where string) string {
	return sumsSQL(func(seed string) string {
		return fmt.Sprintf(`hashtextextended(k, %s)`, seed)
	}, table, where, fmt.Sprintf(`(%s) COLLATE "C" AS k`, key))
}

// sumsSQL is a digest query over the rows of table that where selects: the server
// encoding, the number of rows and the exact sums of hash(seed) under the seeds $1 and $2
// (hash is the SQL of a row's int8 hash under the int8 expression seed, over the columns
// cols name, each "expression AS name").
//
// The columns are computed once per row, in a subquery that OFFSET 0 keeps the planner from
// merging into the outer query; merged, each expression (a key's text, a prefix, a version
// in UTC) would be computed again for each seed, which doubled the digest's time.
func sumsSQL(hash func(seed string) string, table, where string, cols ...string) string {
	h := func(p string) string { return fmt.Sprintf(`coalesce(sum(%s), 0)::text`, hash(p+"::int8")) }
	return fmt.Sprintf(`SELECT current_setting('server_encoding'), count(*), %[1]s || '/' || %[2]s FROM (SELECT %[5]s FROM %[3]s WHERE %[4]s OFFSET 0) AS d`,
		h("$1"), h("$2"), table, where, strings.Join(cols, ", "))
}

// queryDigest runs digest query q (sumsSQL) with args; the digest's method is method
// followed by the server encoding.
func queryDigest(ctx context.Context, pool *pgxpool.Pool, method, q string, args ...any) (connector.KeyDigest, error) {
	var enc string
	var d connector.KeyDigest
	if err := pool.QueryRow(ctx, q, args...).Scan(&enc, &d.Keys, &d.Digest); err != nil {
		return connector.KeyDigest{}, err
	}
	d.Method = method + enc
	return d, nil
}

// KeyDigest is the digest of the keys Keys lists (connector.KeyDigester), made by the
// server in one statement.
func (s *Sink) KeyDigest(ctx context.Context, seeds [2]int64) (connector.KeyDigest, error) {
	d, err := queryDigest(ctx, s.pool, keyDigestMethod, s.keyq.digest, seeds[0], seeds[1])
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("digest keys of %q: %w", s.rel.name, err)
	}
	return d, nil
}

// FieldDigest is the digest of prefix + the text of column field of every row where it is
// not NULL (connector.FieldDigester): the values PrefixedFieldValues lists. The column must
// be one FieldValues lists.
func (s *Source) FieldDigest(ctx context.Context, field, prefix string, seeds [2]int64) (connector.KeyDigest, error) {
	what := fmt.Sprintf("digest values of column %q of %q", field, s.rel.name)
	key, args, err := s.fieldKey(field, prefix, 3)
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("%s: %w", what, err)
	}
	d, err := queryDigest(ctx, s.pool, keyDigestMethod, digestSQL(key, s.rel.ident.Sanitize(), quote(field)+" IS NOT NULL"), append([]any{seeds[0], seeds[1]}, args...)...)
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("%s: %w", what, err)
	}
	return d, nil
}

// fieldKey is the SQL text expression of the external key prefix + the text of column
// field, and its arguments: the prefix, when there is one, is parameter $param.
func (s *Source) fieldKey(field, prefix string, param int) (string, []any, error) {
	c, ok := s.rel.columns[field]
	switch {
	case !ok:
		return "", nil, errors.New("no such column")
	case c.oid == oidInt2 || c.oid == oidInt4 || c.oid == oidInt8 || c.oid == oidUUID || c.category == 'S':
	default:
		return "", nil, fmt.Errorf("column is %s, want an integer, text or uuid column", c.full)
	}
	key := quote(field) + "::text"
	if prefix == "" { // the concatenation costs: only when needed
		return key, nil, nil
	}
	return fmt.Sprintf("$%d::text || %s", param, key), []any{prefix}, nil
}

var (
	_ connector.KeyDigester   = (*Sink)(nil)
	_ connector.FieldDigester = (*Source)(nil)
)
