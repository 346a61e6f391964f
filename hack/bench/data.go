package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// groupSize is how many source rows share one updated_at value.
const groupSize = 50

// groupStep is the time between two consecutive updated_at groups. With 50 rows an hour,
// the runner's default 5-minute safety gap re-reads exactly the last group on a rerun, as
// it would for a table whose rows change at a realistic rate.
const groupStep = "1 hour"

// sourceDDL creates a source table named %[1]s.
const sourceDDL = `CREATE TABLE %[1]s (
  id bigint PRIMARY KEY,
  customer_id text NOT NULL,
  status text NOT NULL,
  total numeric(12,2) NOT NULL,
  updated_at timestamptz NOT NULL)`

// sourceFill fills source table %[1]s with $1 rows: updated_at in groups of groupSize
// identical values (an hour apart, each at a distinct microsecond), ids ascending.
const sourceFill = `INSERT INTO %[1]s (id, customer_id, status, total, updated_at)
SELECT g,
       'cus_' || lpad((g * 7919 %% 50000)::text, 5, '0'),
       (ARRAY['draft','open','paid','void'])[1 + g %% 4],
       round(((g * 104729) %% 10000000) / 100.0, 2),
       timestamptz '2024-01-01 00:00:00+00'
         + ((g - 1) / %[2]d) * interval '%[3]s'
         + (((g - 1) / %[2]d) * 7919 %% 1000000) * interval '1 microsecond'
FROM generate_series(1, $1::bigint) AS g`

// sinkDDL creates a sink table named %[1]s: the sink's requirements are a unique index on
// the key column and a timestamptz source_updated_at column; the index on
// source_updated_at, holding the key, serves the drift check's window count and the
// overlap's version check (the one the README asks for).
const sinkDDL = `CREATE TABLE %[1]s (
  billing_invoice_id text PRIMARY KEY,
  customer_id text,
  status text,
  total numeric(12,2),
  source_updated_at timestamptz NOT NULL);
CREATE INDEX ON %[1]s (source_updated_at) INCLUDE (billing_invoice_id)`

// createSource creates and fills a source table of n rows, indexes it on (updated_at, id)
// and vacuums it, so no later reader pays for hint bits or a missing visibility map.
func createSource(ctx context.Context, conn *pgx.Conn, table string, n int) error {
	t := pgx.Identifier{table}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf(sourceDDL, t)); err != nil {
		return fmt.Errorf("create source table %s: %w", table, err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(sourceFill, t, groupSize, groupStep), n); err != nil {
		return fmt.Errorf("fill source table %s: %w", table, err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE INDEX ON %s (updated_at, id)", t)); err != nil {
		return fmt.Errorf("index source table %s: %w", table, err)
	}
	return vacuum(ctx, conn, table)
}

// createSink creates an empty sink table.
func createSink(ctx context.Context, conn *pgx.Conn, table string) error {
	if _, err := conn.Exec(ctx, fmt.Sprintf(sinkDDL, pgx.Identifier{table}.Sanitize())); err != nil {
		return fmt.Errorf("create sink table %s: %w", table, err)
	}
	return nil
}

// vacuum runs VACUUM ANALYZE on a table.
func vacuum(ctx context.Context, conn *pgx.Conn, table string) error {
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+pgx.Identifier{table}.Sanitize()); err != nil {
		return fmt.Errorf("vacuum %s: %w", table, err)
	}
	return nil
}

// changeSource changes every 100th row of a source table (status and total) and moves it
// to new updated_at groups of groupSize rows, one minute apart, all later than every
// existing row. It returns the number of rows changed.
func changeSource(ctx context.Context, conn *pgx.Conn, table string) (int64, error) {
	t := pgx.Identifier{table}.Sanitize()
	sql := fmt.Sprintf(`WITH base AS (SELECT max(updated_at) + interval '1 hour' AS t0 FROM %[1]s),
picked AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM %[1]s WHERE id %% 100 = 0)
UPDATE %[1]s AS s
SET status = CASE s.status WHEN 'paid' THEN 'void' ELSE 'paid' END,
    total = s.total + 1,
    updated_at = base.t0 + (picked.n / %[2]d) * interval '1 minute' + (picked.n / %[2]d) * interval '1 microsecond'
FROM picked, base
WHERE s.id = picked.id`, t, groupSize)
	tag, err := conn.Exec(ctx, sql)
	if err != nil {
		return 0, fmt.Errorf("change 1%% of %s: %w", table, err)
	}
	return tag.RowsAffected(), vacuum(ctx, conn, table)
}

// maxUpdatedAt returns the newest updated_at of a source table.
func maxUpdatedAt(ctx context.Context, conn *pgx.Conn, table string) (time.Time, error) {
	var t time.Time
	err := conn.QueryRow(ctx, "SELECT max(updated_at) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&t)
	if err != nil {
		return t, fmt.Errorf("max updated_at of %s: %w", table, err)
	}
	return t, nil
}

// digest is a row count and an order-independent checksum of a table's mapped rows.
type digest struct {
	Count int64
	Sum   int64
}

func (d digest) String() string { return fmt.Sprintf("%d rows, checksum %d", d.Count, d.Sum) }

// sourceDigest digests a source table as the sink should hold it (key "billing:<id>").
func sourceDigest(ctx context.Context, conn *pgx.Conn, table string) (digest, error) {
	return queryDigest(ctx, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(hashtext(
  'billing:' || id::text || '|' || customer_id || '|' || status || '|' || total::text || '|' || updated_at::text)), 0)
FROM %s`, pgx.Identifier{table}.Sanitize()))
}

// sinkDigest digests a sink table.
func sinkDigest(ctx context.Context, conn *pgx.Conn, table string) (digest, error) {
	return queryDigest(ctx, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(hashtext(
  billing_invoice_id || '|' || customer_id || '|' || status || '|' || total::text || '|' || source_updated_at::text)), 0)
FROM %s`, pgx.Identifier{table}.Sanitize()))
}

func queryDigest(ctx context.Context, conn *pgx.Conn, sql string) (digest, error) {
	var d digest
	if err := conn.QueryRow(ctx, sql).Scan(&d.Count, &d.Sum); err != nil {
		return d, fmt.Errorf("checksum: %w", err)
	}
	return d, nil
}

// The incremental scenarios' data (createUserSource) is shaped like a user's table:
//
//   - text ids ('inv_' and 16 hex digits of md5) in random order relative to time, so
//     that neither side gets a key order for free;
//   - a history a second apart, then the last denseRows rows 10 ms apart (100 rows a
//     second), so that the 5-minute safety gap re-reads overlapRows rows on a rerun and
//     the 24-hour drift window holds the recent part of the table, not all of it;
//   - one tie group of tieRows rows sharing one updated_at, in the middle, bigger than a
//     page at any page size the benchmark uses.
const (
	denseRows   = 60_000
	overlapRows = 30_000 // rows in the last 5 minutes: 100 a second
	tieRows     = 20_000
)

// userSourceDDL creates a source table named %[1]s.
const userSourceDDL = `CREATE TABLE %[1]s (
  id text PRIMARY KEY,
  customer_id text NOT NULL,
  status text NOT NULL,
  total numeric(12,2) NOT NULL,
  updated_at timestamptz NOT NULL)`

// userSourceFill fills source table %[1]s with $1 rows; g is a row's rank in time. $2 is
// the first rank of the dense part, $3 and $4 the first and last rank of the tie group.
// The newest row is 1 µs later than its rank's time so that no row sits exactly at the
// safety gap's boundary on a rerun (the overlap is exactly overlapRows rows).
const userSourceFill = `INSERT INTO %[1]s (id, customer_id, status, total, updated_at)
SELECT 'inv_' || substr(md5(g::text), 1, 16),
       'cus_' || lpad((g * 7919 %% 50000)::text, 5, '0'),
       (ARRAY['draft','open','paid','void'])[1 + g %% 4],
       round(((g * 104729) %% 10000000) / 100.0, 2),
       timestamptz '2024-01-01 00:00:00+00'
         + least(r, $2) * interval '1 second'
         + greatest(r - $2, 0) * interval '10 milliseconds'
         + CASE WHEN g = $1 THEN interval '1 microsecond' ELSE interval '0' END
FROM generate_series(1, $1::bigint) AS g,
     LATERAL (SELECT CASE WHEN g BETWEEN $3 AND $4 THEN $3 ELSE g END AS r) AS t`

// userSinkDDL creates a sink table named %[1]s with the columns of the sample SyncJob
// (config/samples/sync_v1alpha1_syncjob_postgres.yaml) and no index but its unique key
// (createUserSink adds the one the README asks for).
const userSinkDDL = `CREATE TABLE %[1]s (
  billing_invoice_id text PRIMARY KEY,
  billing_customer_id text,
  status text,
  total numeric(12,2),
  is_paid boolean,
  source_updated_at timestamptz,
  synced_at timestamptz,
  sync_run_id text)`

// createUserSource creates and fills a source table of n rows shaped like a user's (see
// denseRows), indexes it on (updated_at, id COLLATE "C") as the source's reads need, and
// vacuums it.
func createUserSource(ctx context.Context, conn *pgx.Conn, table string, n int) error {
	t := pgx.Identifier{table}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf(userSourceDDL, t)); err != nil {
		return fmt.Errorf("create source table %s: %w", table, err)
	}
	tie := min(tieRows, n/5)
	tieFirst := int64(n/2 - tie/2)
	if _, err := conn.Exec(ctx, fmt.Sprintf(userSourceFill, t), n, int64(max(n-denseRows, 0)), tieFirst, tieFirst+int64(tie)-1); err != nil {
		return fmt.Errorf("fill source table %s: %w", table, err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE INDEX ON %s (updated_at, id COLLATE "C")`, t)); err != nil {
		return fmt.Errorf("index source table %s: %w", table, err)
	}
	return vacuum(ctx, conn, table)
}

// createUserSink creates an empty sink table of the sample's shape with the index the
// README documents as the one a PostgreSQL sink needs (source_updated_at, holding the key:
// the drift check's counts, the overlap's range read and digest of stored versions from the
// index alone): the sink a user gets by following the README, runner and baselines alike.
func createUserSink(ctx context.Context, conn *pgx.Conn, table string) error {
	if err := createBareUserSink(ctx, conn, table); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE INDEX ON "+pgx.Identifier{table}.Sanitize()+" (source_updated_at) INCLUDE (billing_invoice_id)"); err != nil {
		return fmt.Errorf("index sink table %s: %w", table, err)
	}
	return nil
}

// createBareUserSink creates an empty sink table of the sample's shape with only its
// unique key: the reported variant of a user who has not created the index.
func createBareUserSink(ctx context.Context, conn *pgx.Conn, table string) error {
	if _, err := conn.Exec(ctx, fmt.Sprintf(userSinkDDL, pgx.Identifier{table}.Sanitize())); err != nil {
		return fmt.Errorf("create sink table %s: %w", table, err)
	}
	return nil
}

// changeUserSource changes rows/100 rows of a user-shaped source table (status and total),
// the rep-th slice of them in id order (random in time), and moves them all to one new
// updated_at an hour after the newest row: one tie group. It returns the rows changed.
func changeUserSource(ctx context.Context, conn *pgx.Conn, table string, rows, rep int) (int64, error) {
	t := pgx.Identifier{table}.Sanitize()
	n := rows / 100
	sql := fmt.Sprintf(`WITH base AS (SELECT max(updated_at) + interval '1 hour' AS t0 FROM %[1]s),
picked AS (SELECT id FROM %[1]s ORDER BY id COLLATE "C" LIMIT $1 OFFSET $2)
UPDATE %[1]s AS s
SET status = CASE s.status WHEN 'paid' THEN 'void' ELSE 'paid' END,
    total = s.total + 1,
    updated_at = base.t0
FROM picked, base
WHERE s.id = picked.id`, t)
	tag, err := conn.Exec(ctx, sql, n, (rep*n)%max(rows-n, 1))
	if err != nil {
		return 0, fmt.Errorf("change 1%% of %s: %w", table, err)
	}
	return tag.RowsAffected(), vacuum(ctx, conn, table)
}

// countSince counts the source rows at or after a time: what a run re-reads in its
// safety gap (no row sits exactly on the boundary, see userSourceFill).
func countSince(ctx context.Context, conn *pgx.Conn, table string, since time.Time) (int64, error) {
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE updated_at >= $1", since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %s since %s: %w", table, since, err)
	}
	return n, nil
}

// userSourceDigest digests a user-shaped source table as the sink should hold it (key
// string(record.id), is_paid = status == "paid").
func userSourceDigest(ctx context.Context, conn *pgx.Conn, table string) (digest, error) {
	return queryDigest(ctx, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(hashtext(
  id || '|' || customer_id || '|' || status || '|' || total::text || '|' || (status = 'paid')::text || '|' || updated_at::text)), 0)
FROM %s`, pgx.Identifier{table}.Sanitize()))
}

// userSinkDigest digests a sink table of the sample's shape; every row must carry its
// synced_at and run id.
func userSinkDigest(ctx context.Context, conn *pgx.Conn, table string) (digest, error) {
	return queryDigest(ctx, conn, fmt.Sprintf(`SELECT count(*), coalesce(sum(hashtext(
  billing_invoice_id || '|' || billing_customer_id || '|' || status || '|' || total::text || '|' || is_paid::text || '|' || source_updated_at::text
  || CASE WHEN synced_at IS NULL OR sync_run_id IS NULL THEN '|unstamped' ELSE '' END)), 0)
FROM %s`, pgx.Identifier{table}.Sanitize()))
}
