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
//
// A connection is configured from the DSN alone: host, database and user must be in it,
// and nothing libpq would take from elsewhere (PG* environment variables, ~/.pgpass, a
// service file, client certificates under ~/.postgresql) fills in what it leaves out.
package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
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
	cfg, err := parseDSN(dsn)
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
	// Reads from the server go through a large buffer: a COPY's stream arrives in one
	// read per readBufferSize when it queues up, not one per pgx's 8 KiB chunk (each read
	// of a TCP socket also sends its window update: fewer reads, less CPU).
	cfg.ConnConfig.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBufferSize), w)
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
	if err := warmUp(pingCtx, pool.Acquire); err != nil {
		pool.Close()
		return nil, redactf(secrets, "connect to postgres at %s (connect timeout %s): %w", where, cfg.ConnConfig.ConnectTimeout, err)
	}
	return pool, nil
}

// readBufferSize is the buffer of a connection's reads (connect).
const readBufferSize = 256 << 10

// warmUp opens the pool's first connection through acquire, checks it with a ping and
// leaves it idle in the pool: the run's setup needs one, and a run mostly runs one
// statement at a time on each side. Further connections (up to the pool's MaxConns) open only when a run has two
// statements on one side at once: a PostgreSQL backend costs the server about 20 ms of
// CPU to start, more than a rerun's digests or counts on this 2-core machine, so a second
// one opened ahead of need made every rerun slower. A first connection refused for too
// many connections (SQLSTATE 53300: a role's, database's or server's limit, which the other
// side of the run connecting to the same server may share at that moment) is tried once
// more before the error is returned.
func warmUp(ctx context.Context, acquire func(context.Context) (*pgxpool.Conn, error)) error {
	open := func() error {
		c, err := acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		return c.Ping(ctx)
	}
	err := open()
	if tooManyConnections(err) {
		err = open()
	}
	return err
}

// tooManyConnections reports whether err is PostgreSQL's refusal of a connection over a
// role's, a database's or the server's connection limit (SQLSTATE 53300).
func tooManyConnections(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "53300"
}

// envKeys are the settings pgconn.ParseConfig takes from PG* environment variables (and,
// for passfile, servicefile and the ssl files, from the home directory) when the DSN does
// not set them, with the value that pins each to what an empty environment and no files
// mean. "" stands for the built-in default; passfile="" and the ssl files "" read no file.
var envKeys = map[string]string{
	"port": "", "password": "", "passfile": "", "connect_timeout": "0",
	"sslmode": "", "sslkey": "", "sslcert": "", "sslcertmode": "allow", "sslsni": "",
	"sslrootcert": "", "sslpassword": "", "sslnegotiation": "",
	"target_session_attrs": "any", "min_protocol_version": "", "max_protocol_version": "",
	"channel_binding": "", "require_auth": "",
}

// envRuntimeParams are the run-time parameters ParseConfig takes from PGAPPNAME, PGTZ and
// PGOPTIONS; those the DSN does not set are removed after parsing.
var envRuntimeParams = []string{"application_name", "timezone", "options"}

// parseDSN parses dsn into a pool configuration taken from the DSN alone.
//
// pgconn.ParseConfig merges built-in defaults, PG* environment variables, files in the home
// directory and the DSN, with no option to leave the environment out, and the process
// environment cannot be cleared safely around the call. So: the keys the DSN itself sets
// are found with pgconn's own parser (ConnStringAllowedKeys fails on the first key not
// allowed, before anything else is read, and names it); host, dbname and user must be among
// them; every other key the environment could supply is pinned in the DSN to its
// no-environment value, so that the DSN shadows the environment; run-time parameters only
// the environment set are dropped. A service (in the DSN or PGSERVICE) is refused: it
// would take settings from a file.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	if os.Getenv("PGSERVICE") != "" {
		return nil, errors.New("the PGSERVICE environment variable is set: the connection is configured from the DSN alone, unset it")
	}
	keys, err := dsnKeys(dsn)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct{ key, name string }{{"host", "host"}, {"database", "dbname"}, {"user", "user"}} {
		if !keys[k.key] {
			return nil, fmt.Errorf("the DSN has no %s (nothing is taken from PG* environment variables or libpq defaults)", k.name)
		}
	}
	if err := checkHosts(dsn); err != nil {
		return nil, err
	}
	if keys["ssl"] {
		keys["sslmode"] = true // the URI alias ssl=true sets sslmode
	}
	var pins []string
	for k, v := range envKeys {
		if !keys[k] {
			pins = append(pins, k+"="+v)
		}
	}
	sort.Strings(pins)
	pinned := pinKeys(dsn, pins)
	cfg, err := pgxpool.ParseConfig(pinned)
	if err != nil {
		return nil, err
	}
	for _, k := range envRuntimeParams {
		if !keys[k] {
			delete(cfg.ConnConfig.RuntimeParams, k)
		}
	}
	if cfg.ConnConfig.Database == "" {
		return nil, errors.New("the DSN's dbname is empty")
	}
	if cfg.ConnConfig.User == "" {
		return nil, errors.New("the DSN's user is empty")
	}
	return cfg, nil
}

var notAllowedKey = regexp.MustCompile(`connection string key ("(?:[^"\\]|\\.)*") is not in ConnStringAllowedKeys$`)

// dsnKeys returns the setting keys (pgconn's canonical spelling: database, not dbname) the
// DSN itself sets, as pgconn parses it. It asks pgconn with a growing allow-list: pgconn
// checks every key of the string against it before reading anything else, and its refusal
// names the key. Any other outcome means every key passed the check: the set is complete.
// A service is refused as soon as it shows (the full parse would read the service file).
func dsnKeys(dsn string) (map[string]bool, error) {
	allowed := []string{}
	keys := map[string]bool{}
	for range 200 {
		_, err := pgconn.ParseConfigWithOptions(dsn, pgconn.ParseConfigOptions{ConnStringAllowedKeys: allowed})
		if err == nil {
			return keys, nil
		}
		m := notAllowedKey.FindStringSubmatch(err.Error())
		if m == nil {
			if len(keys) == 0 {
				return nil, err // the string does not parse
			}
			return keys, nil // a later error, which the final parse reports or pinning removes
		}
		k, uerr := strconv.Unquote(m[1])
		if uerr != nil || keys[k] {
			return nil, err
		}
		if k == "service" || k == "servicefile" {
			return nil, fmt.Errorf("%s is not supported: put host, dbname and user in the DSN", k)
		}
		keys[k] = true
		allowed = append(allowed, k)
	}
	return nil, errors.New("too many settings")
}

// pinKeys adds key=value settings (values "" or without special characters) to dsn, in
// its own syntax: before the keyword/value pairs, or to a URI's query.
func pinKeys(dsn string, pins []string) string {
	if len(pins) == 0 {
		return dsn
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		var b strings.Builder
		for _, p := range pins {
			k, v, _ := strings.Cut(p, "=")
			fmt.Fprintf(&b, "%s='%s' ", k, v)
		}
		return b.String() + dsn
	}
	// As pgconn does: user info ends at an '@' before any '/'; the query starts at the
	// first '?' after it.
	rest := dsn[strings.Index(dsn, "//")+2:]
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		rest = rest[i+1:]
	}
	sep := "?"
	if strings.Contains(rest, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(pins, "&")
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

// quoteLiteral quotes s as an SQL string literal in the escape form (E'...', backslashes
// and quotes doubled), which reads the same whatever standard_conforming_strings says: for
// statements that take no parameters (COPY, SET TRANSACTION SNAPSHOT).
func quoteLiteral(s string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

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

// CheckDSN reports, without connecting, why dsn cannot configure a connection from the
// DSN alone (a missing or empty host, dbname or user, a service, a setting that does not
// parse). The error never holds the DSN's password.
func CheckDSN(dsn string) error {
	if _, err := parseDSN(dsn); err != nil {
		return redactf(dsnSecrets(dsn), "%w", err)
	}
	return nil
}
