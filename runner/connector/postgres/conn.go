// Package postgres is the PostgreSQL source and sink.
//
// The Source reads a table or view in ascending (updatedAt, id) order with keyset paging;
// each page is one SELECT, so one page is one consistent snapshot (consecutive pages are
// not: rows committed between two pages appear in a later page when their (updatedAt, id)
// is after the cursor, and the runner's safety gap covers rows committed late with an
// older updatedAt).
//
// The Sink upserts by the external key with INSERT ... ON CONFLICT ... DO UPDATE guarded
// by the stored source updatedAt, through a multi-row INSERT from arrays for small pages
// and COPY into a temporary table plus one merge statement for large ones.
//
// Connection strings carry credentials: they never appear in errors or logs. Errors name
// the host, port and database instead.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultConnectTimeout bounds establishing a connection when neither the options nor the
// DSN's connect_timeout say otherwise.
const DefaultConnectTimeout = 10 * time.Second

// Type OIDs of the built-in types the connector handles natively.
const (
	oidBool        = 16
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// connect opens a pool for dsn and checks that it connects. Errors never contain the DSN's
// password.
func connect(ctx context.Context, dsn string, timeout time.Duration, maxConns int32, tune func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	secrets := dsnSecrets(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, redactf(secrets, "parse postgres DSN: %w", err)
	}
	for _, p := range []string{cfg.ConnConfig.Password} {
		if p != "" {
			secrets = append(secrets, p)
		}
	}
	if timeout > 0 {
		cfg.ConnConfig.ConnectTimeout = timeout
	} else if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	if tune != nil {
		tune(cfg)
	}
	where := fmt.Sprintf("%s:%d database %q user %q", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, cfg.ConnConfig.User)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redactf(secrets, "connect to postgres at %s: %w", where, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, redactf(secrets, "connect to postgres at %s (connect timeout %s): %w", where, cfg.ConnConfig.ConnectTimeout, err)
	}
	return pool, nil
}

var kvPassword = regexp.MustCompile(`(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)

// dsnSecrets extracts the password spellings a DSN may hold, even one that does not parse.
func dsnSecrets(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
			if raw := strings.TrimPrefix(u.User.String(), u.User.Username()+":"); raw != p {
				out = append(out, raw)
			}
		}
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				out = append(out, vs...)
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := strings.Trim(m[1], "'")
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// redactedError carries a message with secrets removed. It deliberately does not unwrap to
// the original error, whose text held a secret.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// redactf formats like fmt.Errorf and removes every secret from the message. When no
// secret occurs, the result wraps normally.
func redactf(secrets []string, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}

// tableName parses "schema.table" or "table" into a quoted identifier. Names are taken
// literally (case-sensitive), as a quoted identifier would be.
func tableName(s string) (pgx.Identifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 || s == "" {
		return nil, fmt.Errorf("table name %q: want table or schema.table", s)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("table name %q: want table or schema.table", s)
		}
	}
	return pgx.Identifier(parts), nil
}

// column is one column of an inspected relation.
type column struct {
	name string
	// oid is the column's type, or a domain's base type.
	oid uint32
	// typ is the column's type without modifier, usable in a cast ("character varying").
	typ string
	// full is the column's type with modifier, for messages ("character varying(10)").
	full string
	// category is pg_type.typcategory of the base type ('S' string, 'N' numeric, ...).
	category byte
	// typmod is the type modifier (pg_attribute.atttypmod, a domain's typtypmod), -1
	// when none: numeric precision and scale, timestamp precision, character length.
	typmod int32
}

// relation is an inspected table or view.
type relation struct {
	ident   pgx.Identifier
	name    string // as given in the spec, for messages
	oid     uint32
	kind    byte // pg_class.relkind
	columns map[string]column
	order   []string // column names in table order
}

// inspect looks the relation up and reads its columns.
func inspect(ctx context.Context, pool *pgxpool.Pool, spec string) (*relation, error) {
	ident, err := tableName(spec)
	if err != nil {
		return nil, err
	}
	rel := &relation{ident: ident, name: spec, columns: map[string]column{}}
	var kind string
	err = pool.QueryRow(ctx, `SELECT c.oid, c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)`, ident.Sanitize()).
		Scan(&rel.oid, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("table %q not found (names are case-sensitive; schema-qualify it if it is not on the search path)", spec)
	}
	if err != nil {
		return nil, fmt.Errorf("look up table %q: %w", spec, err)
	}
	rel.kind = kind[0]
	rows, err := pool.Query(ctx, `
SELECT a.attname,
       COALESCE(NULLIF(t.typbasetype, 0), a.atttypid)::int8,
       format_type(a.atttypid, NULL),
       format_type(a.atttypid, a.atttypmod),
       COALESCE(bt.typcategory, t.typcategory)::text,
       CASE WHEN t.typbasetype <> 0 THEN t.typtypmod ELSE a.atttypmod END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = NULLIF(t.typbasetype, 0)
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, rel.oid)
	if err != nil {
		return nil, fmt.Errorf("read columns of table %q: %w", spec, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c column
		var oid int64
		var cat string
		if err := rows.Scan(&c.name, &oid, &c.typ, &c.full, &cat, &c.typmod); err != nil {
			return nil, fmt.Errorf("read columns of table %q: %w", spec, err)
		}
		c.oid = uint32(oid)
		if c.typ == "character" {
			// format_type without modifier says "character", which a cast reads as
			// character(1): it would cut every longer value to one character.
			c.typ = "bpchar"
		}
		if cat != "" {
			c.category = cat[0]
		}
		rel.columns[c.name] = c
		rel.order = append(rel.order, c.name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of table %q: %w", spec, err)
	}
	return rel, nil
}

// column returns the named column or an error naming what it is for.
func (r *relation) column(name, role string) (column, error) {
	c, ok := r.columns[name]
	if !ok {
		return column{}, fmt.Errorf("%s column %q not found in table %q", role, name, r.name)
	}
	return c, nil
}

// quote quotes one identifier.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// isConnError reports whether err leaves the connection unusable or the caller gone: the
// batch cannot be confirmed.
func isConnError(ctx context.Context, conn *pgx.Conn, err error) bool {
	if ctx.Err() != nil || conn.IsClosed() {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return false
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// recordLevel reports whether a server error is about the data of a row (a data
// exception or an integrity constraint), so that isolating the row may help.
func recordLevel(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
}
