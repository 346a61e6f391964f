package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// buildVersionSQL prepares the version lookup (StoredVersions) and the check for the index
// the drift check's count needs (CountAdvice). Without a source version column (Snapshot
// mode) there is neither.
func (s *Sink) buildVersionSQL(key, sua column) {
	if s.unversioned {
		return
	}
	s.suaCol, s.keyCol = sua.name, key.name
	live := ""
	for _, v := range s.vals {
		if v.softDl {
			s.softDlCol = v.col.name
			live = fmt.Sprintf(" AND %s IS NULL", quote(v.col.name))
		}
	}
	k, u := quote(key.name), quote(sua.name)
	s.qVersions = fmt.Sprintf("SELECT %s::text, %s FROM %s WHERE %s = ANY($1::text[]) AND %s IS NOT NULL%s",
		k, u, s.rel.ident.Sanitize(), k, u, live)
	s.vrange.query = fmt.Sprintf("SELECT %s::text, %s FROM %s WHERE %s >= $1 AND %s <= $2%s LIMIT $3",
		k, u, s.rel.ident.Sanitize(), u, u, live)
	s.vrange.digest = versionDigestSQL(k+"::text", u, s.rel.ident.Sanitize(),
		fmt.Sprintf("%s >= $3::timestamptz AND %s <= $4::timestamptz%s", u, u, live))
}

// versionRange is the state of StoredVersionsBetween: its query and whether an index
// serves it, looked up once.
type versionRange struct {
	query   string
	digest  string // the digest of the range's pairs (StoredVersionDigest)
	once    sync.Once
	indexed bool
}

// StoredVersionsBetween returns the stored source updatedAt of each live row (not
// soft-deleted) whose stored source updatedAt is in [from, to], by key, in one range scan
// of the index on the source updated-at column (the one CountAdvice asks for), reading at
// most limit rows; complete is false when there are more, or when no such index exists
// (nothing is read then: without it the range would read the whole table).
func (s *Sink) StoredVersionsBetween(ctx context.Context, from, to time.Time, limit int) (map[string]time.Time, bool, error) {
	if s.unversioned {
		return nil, false, fmt.Errorf("read source versions of %q: the sink stores no source version (Snapshot mode)", s.rel.name)
	}
	if !s.versionsIndexed(ctx) || limit <= 0 {
		return nil, false, nil
	}
	rows, err := s.pool.Query(ctx, s.vrange.query, from.UTC(), to.UTC(), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("read source versions in [%s, %s] from %q: %w", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), s.rel.name, err)
	}
	defer rows.Close()
	// Sized for half the limit: callers leave room for about twice the rows they expect
	// (the engine's page), and a map sized for the whole limit cost more to allocate and
	// clear than the range read's rows to scan.
	out := make(map[string]time.Time, limit/2+1)
	var key string
	var at time.Time
	n := 0
	for rows.Next() {
		if n++; n > limit {
			return nil, false, nil
		}
		if err := rows.Scan(&key, &at); err != nil {
			return nil, false, fmt.Errorf("read source versions from %q: %w", s.rel.name, err)
		}
		out[key] = at.UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read source versions from %q: %w", s.rel.name, err)
	}
	return out, true, nil
}

// versionIndexed reports whether a valid index has the source updated-at column first,
// without a predicate or with exactly the soft-delete column's IS NULL.
func (s *Sink) versionIndexed(ctx context.Context) (bool, error) {
	var indexed bool
	err := s.pool.QueryRow(ctx, `
SELECT EXISTS (
  SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = $1 AND i.indisvalid AND i.indisready AND a.attname = $2
    AND (i.indpred IS NULL OR ($3 <> '' AND pg_get_expr(i.indpred, i.indrelid) = '(' || quote_ident($3) || ' IS NULL)')))`,
		s.rel.oid, s.suaCol, s.softDlCol).Scan(&indexed)
	if err != nil {
		return false, fmt.Errorf("look up an index on column %q of table %q: %w", s.suaCol, s.rel.name, err)
	}
	return indexed, nil
}

// versionsIndexed reports whether an index serves ranges of the source updated-at column
// (versionIndexed), looked up once; a failed lookup counts as none.
func (s *Sink) versionsIndexed(ctx context.Context) bool {
	s.vrange.once.Do(func() {
		indexed, err := s.versionIndexed(ctx)
		if err != nil {
			s.log.V(1).Info("no range read of stored versions: looking up the index failed", "table", s.rel.name, "error", err.Error())
		}
		s.vrange.indexed = indexed
	})
	return s.vrange.indexed
}

// CanReadVersions reports whether the sink stores a source version (not in Snapshot mode).
func (s *Sink) CanReadVersions() bool { return !s.unversioned }

// StoredVersions returns the stored source updatedAt of each of keys whose live row (not
// soft-deleted) has one, in one query by key (the key's unique index; an index-only scan
// when an index holds the key and the source updated-at column).
func (s *Sink) StoredVersions(ctx context.Context, keys []string) (map[string]time.Time, error) {
	if s.unversioned {
		return nil, fmt.Errorf("read source versions of %q: the sink stores no source version (Snapshot mode)", s.rel.name)
	}
	out := make(map[string]time.Time, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.qVersions, keys)
	if err != nil {
		return nil, fmt.Errorf("read source versions of %d keys from %q: %w", len(keys), s.rel.name, err)
	}
	defer rows.Close()
	var key string
	var at time.Time
	for rows.Next() {
		if err := rows.Scan(&key, &at); err != nil {
			return nil, fmt.Errorf("read source versions from %q: %w", s.rel.name, err)
		}
		out[key] = at.UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read source versions from %q: %w", s.rel.name, err)
	}
	return out, nil
}

// CountAdvice says when no index serves the drift check's count over the source updated-at
// column (CountWindow): a valid index whose first column is that column, without a
// predicate or with exactly the soft-delete column's IS NULL. Without one every drift
// check scans the table; the advice names the table, the column and the statement that
// creates the index, which also holds the key column (INCLUDE) so that the overlap's
// version check (StoredVersionDigest, StoredVersionsBetween) reads the index alone. ""
// when there is one (or the sink stores no source version).
func (s *Sink) CountAdvice(ctx context.Context) (string, error) {
	if s.unversioned {
		return "", nil
	}
	indexed, err := s.versionIndexed(ctx)
	if err != nil {
		return "", err
	}
	if indexed {
		return "", nil
	}
	return fmt.Sprintf("sink table %q has no index on its source updated-at column %q: the drift check's count over "+
		"spec.reconcile.window reads the whole table on every run, and the safety gap's version check looks each "+
		"re-read key up instead of reading the gap's versions by range; create one: CREATE INDEX ON %s (%s) INCLUDE (%s)",
		s.rel.name, s.suaCol, s.rel.ident.Sanitize(), quote(s.suaCol), quote(s.keyCol)), nil
}

var (
	_ connector.VersionReader      = (*Sink)(nil)
	_ connector.VersionRangeReader = (*Sink)(nil)
	_ connector.VersionReadCapable = (*Sink)(nil)
	_ connector.CountAdvisor       = (*Sink)(nil)
)
