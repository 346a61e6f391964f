package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Version digests: the overlap's version check first compares, for the safety gap's time
// range, a digest of the source's (external key, updated_at) pairs with a digest of the
// sink's (key, stored source version) pairs, each made by its server in one range scan
// that sends back one row; the gap's positions are scanned and looked up only when the
// digests differ.
//
// A pair is hashed as hashtextextended(key COLLATE "C", timestamp_hash_extended(version at
// UTC, seed)): the key's text hashed under a seed that is the version's hash under the
// run's seed, both PostgreSQL's seeded 64-bit hash functions (the hash-partitioning ones);
// no text is built per row, and the digest of a 30,000-record gap takes a few
// milliseconds. The digest itself is the key digests' (keys_digest.go): the number of
// pairs and two exact sums under two seeds, the server encoding in the method's name. The
// key is the text the key digests use on each side (prefix || column::text at the source,
// the key column's text at the sink), so that equal pairs have equal texts exactly when
// the mapping would give the source record that key.
//
// What equal digests prove, and the collision bound, are the key digests': about 2^-128
// per run that two different multisets of pairs digest alike. Unlike a key digest, whose
// collision only postpones deletes, a collision here would leave a record of the gap
// unwritten in that run (a late commit inside the gap whose older version the sink
// holds); the next run draws new seeds and writes it if it is still inside that run's gap.

// versionDigestMethod names the version digest (connector.KeyDigest.Method), before the
// encoding.
const versionDigestMethod = "postgres:hashtextextended-2sum-versions/v1:"

// versionDigestSQL is the digest query of the pairs (key, version) — a text and a
// timestamptz expression — over the rows of table that where selects: $1 and $2 are the
// seeds. It returns the server encoding, the number of pairs and the two sums.
func versionDigestSQL(key, version, table, where string) string {
	return sumsSQL(func(seed string) string {
		return fmt.Sprintf(`hashtextextended(k, timestamp_hash_extended(v, %s))`, seed)
	}, table, where, fmt.Sprintf(`(%s) COLLATE "C" AS k`, key), fmt.Sprintf(`(%s) AT TIME ZONE 'UTC' AS v`, version))
}

// VersionDigest is the digest of the pairs (prefix + the text of column field, updated_at)
// of every row whose updated_at lies in [from, to] (connector.VersionDigester). Only a
// timestamptz updated_at column digests: a zone-less one's positions are the declared
// zone's conversion, which the runner makes, not the server.
func (s *Source) VersionDigest(ctx context.Context, field, prefix string, from, to time.Time, seeds [2]int64) (connector.KeyDigest, error) {
	what := fmt.Sprintf("digest versions of column %q of %q", field, s.rel.name)
	if s.scanOnly || s.updIdx < 0 {
		return connector.KeyDigest{}, fmt.Errorf("%s: the source has no updated_at column (Snapshot mode)", what)
	}
	upd := s.cols[s.updIdx]
	if upd.oid != oidTimestamptz {
		return connector.KeyDigest{}, fmt.Errorf("%s: updated_at column %q is not timestamptz", what, upd.name)
	}
	key, args, err := s.fieldKey(field, prefix, 5)
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("%s: %w", what, err)
	}
	u := quote(upd.name)
	where := fmt.Sprintf("%s >= $3::timestamptz AND %s <= $4::timestamptz", u, u)
	q := versionDigestSQL(key, u, s.rel.ident.Sanitize(), where)
	d, err := queryDigest(ctx, s.pool, versionDigestMethod, q, append([]any{seeds[0], seeds[1], from.UTC(), to.UTC()}, args...)...)
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("%s: %w", what, err)
	}
	return d, nil
}

// StoredVersionDigest is the digest of the pairs (key, stored source version)
// StoredVersionsBetween(from, to) reads (connector.StoredVersionDigester): live rows only,
// the key's text as the key digest reads it. Like StoredVersionsBetween it needs the index
// on the source updated-at column (else an error: the range would read the whole table).
func (s *Sink) StoredVersionDigest(ctx context.Context, from, to time.Time, seeds [2]int64) (connector.KeyDigest, error) {
	if s.unversioned {
		return connector.KeyDigest{}, fmt.Errorf("digest source versions of %q: the sink stores no source version (Snapshot mode)", s.rel.name)
	}
	if !s.versionsIndexed(ctx) {
		// Without the index the range would read the whole table: the lookups by key cost less.
		return connector.KeyDigest{}, fmt.Errorf("digest source versions of %q: no index on column %q", s.rel.name, s.suaCol)
	}
	d, err := queryDigest(ctx, s.pool, versionDigestMethod, s.vrange.digest, seeds[0], seeds[1], from.UTC(), to.UTC())
	if err != nil {
		return connector.KeyDigest{}, fmt.Errorf("digest source versions in [%s, %s] of %q: %w",
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), s.rel.name, err)
	}
	return d, nil
}

var (
	_ connector.VersionDigester       = (*Source)(nil)
	_ connector.StoredVersionDigester = (*Sink)(nil)
)
