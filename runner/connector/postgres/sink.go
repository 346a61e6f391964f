package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Delete modes of SinkOptions.DeleteMode (spec.deletes.mode).
const (
	DeleteIgnore = "Ignore"
	DeleteSoft   = "SoftDelete"
	DeleteHard   = "Delete"
)

// stageTable is the per-connection temporary table COPY writes into.
const stageTable = "checkpointed_stage"

// SinkOptions are what the sink needs besides its spec.
type SinkOptions struct {
	// KeyField is the column holding WriteRecord.Key (spec.key.field). It needs a unique
	// index on exactly that column and a text or varchar type.
	KeyField string
	// Fields are the columns written from WriteRecord.Values (the mapping targets, in
	// mapping order). The key field, if listed, is ignored here; a field missing from a
	// record's Values is written as NULL; Values not listed are ignored.
	Fields []string
	// RunID is stored in spec.runIdColumn, when set, on every row this sink writes.
	RunID string
	// DeleteMode decides what a WriteRecord with Deleted does: Ignore (the default) leaves
	// the row and reports Unchanged; SoftDelete upserts the record and sets DeleteField to
	// its SourceUpdatedAt (other records set it to NULL); Delete deletes the row by key,
	// unless the row holds a newer source version (then Stale).
	DeleteMode string
	// DeleteField is the timestamptz or timestamp column set under SoftDelete
	// (spec.deletes.sinkField). Defaults to deleted_at.
	DeleteField string
	// Clock gives the time stored in spec.syncedAtColumn. Defaults to time.Now.
	Clock func() time.Time
	// ConnectTimeout bounds establishing a connection. Defaults to the DSN's
	// connect_timeout, else DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger receives debug messages. It never receives the DSN or record values.
	Logger logr.Logger
}

// family is how a value column is checked and staged.
type family int

const (
	famText   family = iota // staged as text and cast: numeric, uuid, enums, everything else
	famString               // text, varchar, char: any value in its text form
	famInt                  // smallint, integer, bigint: int64
	famFloat                // real, double precision: float64 or int64
	famBool                 // boolean: bool
	famTime                 // timestamptz, timestamp, date: time.Time
	famJSON                 // json, jsonb: connector.JSON
)

// sinkColumn is one value column.
type sinkColumn struct {
	col    column
	fam    family
	field  string // key in WriteRecord.Values; "" for the soft-delete column
	softDl bool   // the soft-delete column
}

// Sink upserts records into a PostgreSQL table by external key. It implements
// connector.Sink and connector.Counter and is safe for concurrent use (upserts are
// serialized).
//
// Each upsert is one transaction: INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE the
// stored source updatedAt is NULL or not newer than the record's, and the stored values
// differ from the record's. Outcomes: Written (inserted or updated), Unchanged (values
// equal: the row, its source updatedAt, synced-at and run id are left alone, so a run that
// only re-reads rows writes nothing), Stale (the row holds a newer source version), Failed
// (the value does not fit its column, or PostgreSQL rejected the row: a data exception or
// integrity violation; the batch's other records are still written, by retrying the batch
// in halves under savepoints until the rejected rows are isolated).
//
// A batch below the copy threshold without hard deletes is that one statement, in its own
// transaction (one round trip); a larger one is COPY into a temporary table and the merge
// from it; hard deletes are a second statement in the same transaction.
//
// Each statement reports every row it wrote or found stale (a stale row takes a no-op
// update that sets every column to its stored value, so it is locked and returned without
// changing; row-level UPDATE triggers and logical decoding do see that update); a record
// not reported is Unchanged. No second statement is needed per batch.
//
// Several records with one key in a batch: the newest SourceUpdatedAt (the last of equal
// ones) is written; the older ones are reported Stale, the equal ones share its outcome.
//
// Values are checked against their column: int columns take int64, float columns float64
// or int64, bool columns bool, timestamptz/timestamp/date columns time.Time (written at
// microsecond precision, truncated; timestamp columns get the UTC wall time), json/jsonb
// columns connector.JSON; text columns take any value in its text form, and numeric,
// uuid and other columns any value whose text form PostgreSQL accepts.
type Sink struct {
	pool          *pgxpool.Pool
	log           logr.Logger
	clock         func() time.Time
	runID         string
	rel           *relation
	copyThreshold int
	deleteMode    string
	vals          []sinkColumn
	hasSynced     bool
	hasRun        bool

	qStage, qMergeCopy, qMergeArrays, qDelete, qCount string
	copyCols                                          []string
	qCopyText                                         string // COPY into the stage table when every staged column is text; else ""
	copyBuf                                           []byte // scratch of one Upsert: the encoded COPY stream

	mu     sync.Mutex
	staged map[*pgx.Conn]bool // connections holding the stage table
	pos    map[string]int     // scratch of one Upsert: key -> winner's batch index
	itemAt []*item            // scratch of one Upsert: batch index -> item, if any
	slab   []item             // scratch of one Upsert: the items, cleared after it
	suas   []time.Time        // scratch of one Upsert: batch index -> truncated SourceUpdatedAt
	done   []bool             // scratch of one Upsert: batch index -> result decided
}

// NewSink connects, inspects the table and prepares the statements. dsn is the resolved
// connection string; it never appears in errors.
func NewSink(ctx context.Context, spec v1alpha1.PostgresSink, dsn string, opts SinkOptions) (*Sink, error) {
	if _, err := tableName(spec.Table); err != nil {
		return nil, err
	}
	if opts.KeyField == "" {
		return nil, errors.New("postgres sink: key field (spec.key.field) is empty")
	}
	switch opts.DeleteMode {
	case "", DeleteIgnore, DeleteSoft, DeleteHard:
	default:
		return nil, fmt.Errorf("postgres sink: delete mode %q: want Ignore, SoftDelete or Delete", opts.DeleteMode)
	}
	s := &Sink{
		log:           opts.Logger,
		clock:         opts.Clock,
		runID:         opts.RunID,
		copyThreshold: int(spec.CopyThreshold),
		deleteMode:    opts.DeleteMode,
		staged:        map[*pgx.Conn]bool{},
		pos:           map[string]int{},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.copyThreshold <= 0 {
		s.copyThreshold = 1000
	}
	if s.deleteMode == "" {
		s.deleteMode = DeleteIgnore
	}
	pool, err := connect(ctx, dsn, opts.ConnectTimeout, 2, func(cfg *pgxpool.Config) {
		cfg.BeforeClose = func(c *pgx.Conn) {
			s.mu.Lock()
			delete(s.staged, c)
			s.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	s.pool = pool
	if err := s.setup(ctx, spec, opts); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sink) setup(ctx context.Context, spec v1alpha1.PostgresSink, opts SinkOptions) error {
	rel, err := inspect(ctx, s.pool, spec.Table)
	if err != nil {
		return err
	}
	s.rel = rel
	if rel.kind != 'r' && rel.kind != 'p' {
		return fmt.Errorf("sink table %q is not a table (relkind %c)", spec.Table, rel.kind)
	}
	key, err := rel.column(opts.KeyField, "key (spec.key.field)")
	if err != nil {
		return err
	}
	if key.category != 'S' {
		return fmt.Errorf("key column %q of table %q is %s, want text or varchar", key.name, spec.Table, key.full)
	}
	var attnum int16
	var unique bool
	err = s.pool.QueryRow(ctx, `
SELECT a.attnum, EXISTS (
  SELECT 1 FROM pg_index i
  WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
    AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum)
FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2`, rel.oid, key.name).Scan(&attnum, &unique)
	if err != nil {
		return fmt.Errorf("look up unique index on key column %q of table %q: %w", key.name, spec.Table, err)
	}
	if !unique {
		return fmt.Errorf("key column %q of table %q has no unique index on exactly that column (needed by ON CONFLICT): CREATE UNIQUE INDEX ON %s (%s)", key.name, spec.Table, rel.ident.Sanitize(), quote(key.name))
	}
	suaName := spec.SourceUpdatedAtColumn
	if suaName == "" {
		suaName = "source_updated_at"
	}
	sua, err := rel.column(suaName, "source updated-at (spec.sink.postgres.sourceUpdatedAtColumn)")
	if err != nil {
		return err
	}
	if sua.oid != oidTimestamptz {
		return fmt.Errorf("source updated-at column %q of table %q is %s, want timestamptz", suaName, spec.Table, sua.full)
	}

	used := map[string]string{key.name: "key", sua.name: "source updated-at"}
	claim := func(name, role string) error {
		if other, ok := used[name]; ok {
			return fmt.Errorf("column %q of table %q is used both as %s and as %s", name, spec.Table, other, role)
		}
		used[name] = role
		return nil
	}
	for _, f := range opts.Fields {
		if f == key.name {
			continue
		}
		c, err := rel.column(f, "mapped field")
		if err != nil {
			return err
		}
		if err := claim(f, "mapped field"); err != nil {
			return err
		}
		s.vals = append(s.vals, sinkColumn{col: c, fam: familyOf(c), field: f})
	}
	if s.deleteMode == DeleteSoft {
		name := opts.DeleteField
		if name == "" {
			name = "deleted_at"
		}
		c, err := rel.column(name, "soft-delete (spec.deletes.sinkField)")
		if err != nil {
			return err
		}
		if familyOf(c) != famTime || c.oid == oidDate {
			return fmt.Errorf("soft-delete column %q of table %q is %s, want timestamptz or timestamp", name, spec.Table, c.full)
		}
		if err := claim(name, "soft-delete column"); err != nil {
			return err
		}
		s.vals = append(s.vals, sinkColumn{col: c, fam: famTime, softDl: true})
	}
	var synced, run column
	if spec.SyncedAtColumn != "" {
		if synced, err = rel.column(spec.SyncedAtColumn, "synced-at (spec.sink.postgres.syncedAtColumn)"); err != nil {
			return err
		}
		if synced.oid != oidTimestamptz && synced.oid != oidTimestamp {
			return fmt.Errorf("synced-at column %q of table %q is %s, want timestamptz or timestamp", synced.name, spec.Table, synced.full)
		}
		if err := claim(synced.name, "synced-at column"); err != nil {
			return err
		}
		s.hasSynced = true
	}
	if spec.RunIDColumn != "" {
		if run, err = rel.column(spec.RunIDColumn, "run id (spec.sink.postgres.runIdColumn)"); err != nil {
			return err
		}
		if run.category != 'S' {
			return fmt.Errorf("run id column %q of table %q is %s, want text or varchar", run.name, spec.Table, run.full)
		}
		if err := claim(run.name, "run id column"); err != nil {
			return err
		}
		s.hasRun = true
	}
	s.buildSQL(key, sua, synced, run)
	return nil
}

// familyOf classifies a value column.
func familyOf(c column) family {
	switch c.oid {
	case oidText, oidVarchar, oidBPChar:
		return famString
	case oidInt2, oidInt4, oidInt8:
		return famInt
	case oidFloat4, oidFloat8:
		return famFloat
	case oidBool:
		return famBool
	case oidTimestamptz, oidTimestamp, oidDate:
		return famTime
	case oidJSON, oidJSONB:
		return famJSON
	}
	return famText
}

// buildSQL prepares every statement's text. Stage and array columns are named k (key),
// u (source updatedAt) and c0, c1, ... (value columns).
func (s *Sink) buildSQL(key, sua, synced, run column) {
	table := s.rel.ident.Sanitize()
	k, u := quote(key.name), quote(sua.name)

	var stage strings.Builder
	fmt.Fprintf(&stage, "CREATE TEMP TABLE IF NOT EXISTS %s (k text, u timestamptz", stageTable)
	s.copyCols = []string{"k", "u"}
	for i, v := range s.vals {
		typ := "text"
		if v.fam != famText {
			typ = v.col.typ
		}
		fmt.Fprintf(&stage, ", c%d %s", i, typ)
		s.copyCols = append(s.copyCols, fmt.Sprintf("c%d", i))
	}
	stage.WriteString(") ON COMMIT DELETE ROWS")
	s.qStage = stage.String()
	textOnly := true
	for _, v := range s.vals {
		textOnly = textOnly && (v.fam == famText || v.fam == famString)
	}
	if textOnly {
		s.qCopyText = fmt.Sprintf("COPY %s (%s) FROM STDIN BINARY", stageTable, strings.Join(s.copyCols, ", "))
	}

	// The insert's column list and the ON CONFLICT tail, shared by both paths. Casts go
	// to the type without modifier so that assignment to the column applies the modifier
	// the same way on both paths (varchar(10) rejects, it does not truncate).
	cols := []string{k, u}
	var set, old, new []string // set: the columns the update sets
	set = append(set, u)
	for _, v := range s.vals {
		c := quote(v.col.name)
		cols = append(cols, c)
		set = append(set, c)
		if v.col.oid == oidJSON { // json has no equality operator
			old = append(old, fmt.Sprintf("t.%s::jsonb", c))
			new = append(new, fmt.Sprintf("EXCLUDED.%s::jsonb", c))
		} else {
			old = append(old, "t."+c)
			new = append(new, "EXCLUDED."+c)
		}
	}
	var extraCols []string
	if s.hasSynced {
		extraCols = append(extraCols, fmt.Sprintf("$%%d::%s", synced.typ))
		cols = append(cols, quote(synced.name))
		set = append(set, quote(synced.name))
	}
	if s.hasRun {
		extraCols = append(extraCols, fmt.Sprintf("$%%d::%s", run.typ))
		cols = append(cols, quote(run.name))
		set = append(set, quote(run.name))
	}
	// A stored row with a newer source version (stale) takes a no-op update: every column
	// set to itself, so that RETURNING reports it with its stored version and no second
	// statement is needed to tell Stale from Unchanged. A row is rewritten when its values
	// differ or its source version advanced (a touch-only update moves the stored version
	// too, so that the stale guard and the drift check see the source's version); a row
	// whose values and version are equal is not updated and not returned (Unchanged).
	stale := fmt.Sprintf("t.%s > EXCLUDED.%s", u, u)
	guarded := make([]string, len(set))
	for i, c := range set {
		guarded[i] = fmt.Sprintf("%s = CASE WHEN %s THEN t.%s ELSE EXCLUDED.%s END", c, stale, c, c)
	}
	old = append([]string{"t." + u}, old...)
	new = append([]string{"EXCLUDED." + u}, new...)
	conflict := fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s WHERE %s OR ((t.%s IS NULL OR t.%s <= EXCLUDED.%s) AND (%s) IS DISTINCT FROM (%s))",
		k, strings.Join(guarded, ", "), stale, u, u, u, strings.Join(old, ", "), strings.Join(new, ", "))
	insert := fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT ", table, strings.Join(cols, ", "))
	returning := fmt.Sprintf(" RETURNING t.%s::text, t.%s", k, u)

	selectList := func(castAll bool, firstParam int) string {
		exprs := []string{"s.k", "s.u"}
		for i, v := range s.vals {
			if castAll || v.fam == famText {
				exprs = append(exprs, fmt.Sprintf("s.c%d::%s", i, v.col.typ))
			} else {
				exprs = append(exprs, fmt.Sprintf("s.c%d", i))
			}
		}
		for i, e := range extraCols {
			exprs = append(exprs, fmt.Sprintf(e, firstParam+i))
		}
		return strings.Join(exprs, ", ")
	}
	s.qMergeCopy = insert + selectList(false, 1) + " FROM " + stageTable + " s" + conflict + returning

	arrays := []string{"$1::text[]", "$2::timestamptz[]"}
	names := []string{"k", "u"}
	for i := range s.vals {
		arrays = append(arrays, fmt.Sprintf("$%d::text[]", i+3))
		names = append(names, fmt.Sprintf("c%d", i))
	}
	s.qMergeArrays = insert + selectList(true, len(s.vals)+3) +
		fmt.Sprintf(" FROM unnest(%s) AS s(%s)", strings.Join(arrays, ", "), strings.Join(names, ", ")) + conflict + returning

	// The deleted rows, then the rows kept because they hold a newer version: the main
	// query sees the rows as they were before the DELETE (one snapshot for the statement).
	s.qDelete = fmt.Sprintf(`WITH d AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS d(k, u)),
gone AS (DELETE FROM %[1]s AS t USING d WHERE t.%[2]s = d.k AND (t.%[3]s IS NULL OR t.%[3]s <= d.u) RETURNING t.%[2]s::text, t.%[3]s)
SELECT * FROM gone UNION ALL SELECT t.%[2]s::text, t.%[3]s FROM %[1]s AS t JOIN d ON t.%[2]s = d.k WHERE t.%[3]s > d.u`,
		table, k, u)
	s.qCount = fmt.Sprintf("SELECT count(*) FROM %s WHERE %s >= $1 AND %s <= $2", table, u, u)
}

// item is one record the sink acts on (a winner of its key).
type item struct {
	idx     int // index in the batch
	rec     *connector.WriteRecord
	sua     time.Time // SourceUpdatedAt, UTC, truncated to microseconds
	del     bool      // hard delete
	written bool
	stale   bool
	failed  error
}

// reset forgets the outcome of an attempt that was rolled back.
func (it *item) reset() { it.written, it.stale, it.failed = false, false, nil }

// Upsert writes the batch in one transaction and returns one result per record. A nil
// error means every Written, Unchanged and Stale result is committed; a non-nil error
// (connection lost, server error not about a row) means nothing is confirmed.
func (s *Sink) Upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	results := make([]connector.Result, len(batch))
	if len(batch) == 0 {
		return results, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// The newest version of each key wins; the last one among equals.
	clear(s.pos)
	suas := grow(&s.suas, len(batch))
	slab := grow(&s.slab, len(batch))
	resolved := grow(&s.done, len(batch))
	defer clear(slab) // no references to this batch outlive the call
	for i := range batch {
		suas[i] = batch[i].SourceUpdatedAt.UTC().Truncate(time.Microsecond)
		if j, ok := s.pos[batch[i].Key]; !ok || !suas[i].Before(suas[j]) {
			s.pos[batch[i].Key] = i
		}
	}
	items := make([]*item, 0, len(s.pos))
	itemAt := grow(&s.itemAt, len(batch))
	for i := range batch {
		if s.pos[batch[i].Key] != i {
			continue
		}
		rec := &batch[i]
		if rec.Deleted && s.deleteMode == DeleteIgnore {
			results[i], resolved[i] = connector.Result{Outcome: connector.Unchanged}, true
			continue
		}
		it := &slab[len(items)]
		*it = item{idx: i, rec: rec, sua: suas[i], del: rec.Deleted && s.deleteMode == DeleteHard}
		if !it.del {
			if err := s.check(rec); err != nil {
				results[i], resolved[i] = connector.Result{Outcome: connector.Failed, Err: err}, true
				continue
			}
		}
		items = append(items, it)
		itemAt[i] = it
	}

	if len(items) > 0 {
		outcomes, err := s.write(ctx, items)
		if err != nil {
			return nil, err
		}
		for n, it := range items {
			results[it.idx] = outcomes[n]
			resolved[it.idx] = true
		}
	}
	for i := range batch {
		if resolved[i] {
			continue
		}
		w := s.pos[batch[i].Key]
		if suas[i].Before(suas[w]) {
			results[i] = connector.Result{Outcome: connector.Stale}
		} else {
			results[i] = results[w]
		}
	}
	return results, nil
}

// grow returns (*buf)[:n] zeroed, reallocating *buf when it is too small.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	b := (*buf)[:n]
	clear(b)
	return b
}

// check refuses values that do not fit their column's family.
func (s *Sink) check(rec *connector.WriteRecord) error {
	for _, v := range s.vals {
		if v.softDl {
			continue
		}
		val := rec.Values[v.field]
		if val == nil {
			continue
		}
		ok := true
		switch v.fam {
		case famInt:
			_, ok = val.(int64)
		case famFloat:
			switch val.(type) {
			case float64, int64:
			default:
				ok = false
			}
		case famBool:
			_, ok = val.(bool)
		case famTime:
			_, ok = val.(time.Time)
		case famJSON:
			_, ok = val.(connector.JSON)
		default:
			_, ok = textForm(val)
		}
		if !ok {
			return &connector.RecordError{ID: rec.SourceID, Field: v.field, Reason: "value does not fit column type",
				Detail: fmt.Sprintf("%T for column of type %s", val, v.col.full)}
		}
	}
	return nil
}

// value returns the record's value for column v (the soft-delete column included).
func (s *Sink) value(it *item, v *sinkColumn) any {
	if v.softDl {
		if it.rec.Deleted {
			return it.sua
		}
		return nil
	}
	return it.rec.Values[v.field]
}

// write runs the items in one transaction; when PostgreSQL rejects a row, it runs them
// again isolating the rejected rows. It returns one result per item.
func (s *Sink) write(ctx context.Context, items []*item) ([]connector.Result, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("upsert %d records into %q: %w", len(items), s.rel.name, err)
	}
	defer conn.Release()

	err = s.writeBatch(ctx, conn.Conn(), items)
	if err != nil {
		if isConnError(ctx, conn.Conn(), err) || (!recordLevel(err) && isPgError(err)) {
			return nil, fmt.Errorf("upsert %d records into %q: %w", len(items), s.rel.name, err)
		}
		s.log.V(1).Info("batch rejected, isolating rejected records", "table", s.rel.name, "records", len(items), "reason", err.Error())
		if err := s.writeIsolated(ctx, conn.Conn(), items); err != nil {
			return nil, fmt.Errorf("upsert %d records into %q record by record: %w", len(items), s.rel.name, err)
		}
	}
	out := make([]connector.Result, len(items))
	for n, it := range items {
		switch {
		case it.failed != nil:
			out[n] = connector.Result{Outcome: connector.Failed, Err: it.failed}
		case it.written:
			out[n] = connector.Result{Outcome: connector.Written}
		case it.stale:
			out[n] = connector.Result{Outcome: connector.Stale}
		default:
			out[n] = connector.Result{Outcome: connector.Unchanged}
		}
	}
	return out, nil
}

func isPgError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// writeBatch writes all items in one transaction: COPY and merge, or the array insert.
func (s *Sink) writeBatch(ctx context.Context, conn *pgx.Conn, items []*item) error {
	ups, dels := split(items)
	useCopy := len(ups) >= s.copyThreshold
	if useCopy && !s.staged[conn] {
		if _, err := conn.Exec(ctx, s.qStage); err != nil {
			return fmt.Errorf("create stage table: %w", err)
		}
		s.staged[conn] = true
	}
	for _, it := range items {
		it.reset()
	}
	reported := make([]report, 0, len(items))
	if !useCopy && len(dels) == 0 {
		// One statement, hence its own transaction, in one round trip: it is committed
		// when its result is complete, and an error at commit (a deferred constraint) is
		// reported by it.
		reported, err := s.returning(ctx, conn, reported, s.qMergeArrays, s.arrayArgs(ups)...)
		if err != nil {
			return err
		}
		for _, r := range reported {
			r.apply()
		}
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if len(ups) > 0 {
		if useCopy {
			if s.qCopyText != "" {
				s.copyBuf = s.encodeCopy(s.copyBuf[:0], ups)
				_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(s.copyBuf), s.qCopyText)
				if cap(s.copyBuf) > maxKeptCopyBuf {
					s.copyBuf = nil
				}
				if err != nil {
					return err
				}
			} else {
				src := &copyRows{s: s, items: ups, i: -1, row: make([]any, len(s.copyCols))}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{stageTable}, s.copyCols, src); err != nil {
					return err
				}
			}
			reported, err = s.returning(ctx, tx, reported, s.qMergeCopy, s.extraArgs(nil)...)
		} else {
			reported, err = s.returning(ctx, tx, reported, s.qMergeArrays, s.arrayArgs(ups)...)
		}
		if err != nil {
			return err
		}
	}
	if len(dels) > 0 {
		if reported, err = s.returning(ctx, tx, reported, s.qDelete, deleteArgs(dels)...); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, r := range reported {
		r.apply()
	}
	return nil
}

// writeIsolated writes the items in one transaction, each chunk under a savepoint; a chunk
// PostgreSQL rejects is rolled back and retried in halves until the rejected records are
// alone, and they fail with PostgreSQL's message.
func (s *Sink) writeIsolated(ctx context.Context, conn *pgx.Conn, items []*item) error {
	for _, it := range items {
		it.reset()
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ups, dels := split(items)
	run := func(chunk []*item) ([]report, error) {
		if chunk[0].del {
			return s.returning(ctx, tx, nil, s.qDelete, deleteArgs(chunk)...)
		}
		return s.returning(ctx, tx, nil, s.qMergeArrays, s.arrayArgs(chunk)...)
	}
	for _, group := range [][]*item{ups, dels} {
		stack := [][]*item{}
		if len(group) > 0 {
			stack = append(stack, group)
		}
		for len(stack) > 0 {
			chunk := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sp, err := tx.Begin(ctx) // a savepoint
			if err != nil {
				return err
			}
			reported, err := run(chunk)
			if err == nil {
				if err := sp.Commit(ctx); err != nil {
					return err
				}
				for _, r := range reported {
					r.apply()
				}
				continue
			}
			if isConnError(ctx, conn, err) || (isPgError(err) && !recordLevel(err)) {
				return err
			}
			if rbErr := sp.Rollback(ctx); rbErr != nil {
				return rbErr
			}
			if len(chunk) == 1 {
				chunk[0].failed = rejection(chunk[0], err)
				continue
			}
			half := len(chunk) / 2
			stack = append(stack, chunk[half:], chunk[:half]) // first half first
		}
	}
	return tx.Commit(ctx)
}

// rejection turns PostgreSQL's refusal of one record into its record error.
func rejection(it *item, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		detail := fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		if pgErr.ConstraintName != "" {
			detail = fmt.Sprintf("%s (constraint %s, SQLSTATE %s)", pgErr.Message, pgErr.ConstraintName, pgErr.Code)
		}
		return &connector.RecordError{ID: it.rec.SourceID, Field: pgErr.ColumnName, Reason: "rejected by postgres", Detail: detail}
	}
	return &connector.RecordError{ID: it.rec.SourceID, Reason: "could not encode for postgres", Detail: err.Error()}
}

func split(items []*item) (ups, dels []*item) {
	if !slices.ContainsFunc(items, func(it *item) bool { return it.del }) {
		return items, nil
	}
	for _, it := range items {
		if it.del {
			dels = append(dels, it)
		} else {
			ups = append(ups, it)
		}
	}
	return ups, dels
}

// report is what a statement returned for one item: the row it wrote, or the row it kept
// because that row holds a newer source version.
type report struct {
	it    *item
	stale bool
}

// apply records the outcome on the item.
func (r report) apply() {
	if r.stale {
		r.it.stale = true
	} else {
		r.it.written = true
	}
}

// querier runs a statement: in a transaction, or on a connection outside one (the
// statement is then its own transaction).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// pgEpochMicros is 2000-01-01 00:00:00 UTC, PostgreSQL's timestamp epoch, in Unix
// microseconds.
const pgEpochMicros = 946_684_800_000_000

// returning runs a merge or delete statement, which returns the key and the stored source
// updatedAt of every row it wrote or kept as stale, and appends a report per row. A row
// whose stored version is newer than the item's was kept (Stale); any other row was written
// (inserted, updated or deleted). Items not returned were left alone (Unchanged).
func (s *Sink) returning(ctx context.Context, q querier, reported []report, sql string, args ...any) ([]report, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return reported, err
	}
	defer rows.Close()
	binFmt := false
	if fds := rows.FieldDescriptions(); len(fds) == 2 {
		binFmt = fds[1].Format == pgx.BinaryFormatCode
	}
	var stored pgtype.Timestamptz
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 2 {
			continue
		}
		i, ok := s.pos[string(raw[0])]
		if !ok || s.itemAt[i] == nil {
			continue
		}
		it := s.itemAt[i]
		var newer bool
		switch {
		case raw[1] == nil: // NULL: no version stored
		case binFmt && len(raw[1]) == 8:
			// Microseconds since pgEpoch; ±infinity are the extreme int64 values, which
			// compare correctly as they are.
			us := int64(binary.BigEndian.Uint64(raw[1]))
			newer = us > it.sua.UnixMicro()-pgEpochMicros
		default:
			if err := rows.Scan(nil, &stored); err != nil {
				return reported, fmt.Errorf("read stored source updated_at: %w", err)
			}
			newer = stored.Valid && (stored.InfinityModifier == pgtype.Infinity ||
				stored.InfinityModifier == pgtype.Finite && stored.Time.After(it.sua))
		}
		reported = append(reported, report{it: it, stale: newer})
	}
	rows.Close() // reads to the end of the statement: an error at its commit shows in Err
	if err := rows.Err(); err != nil {
		return reported, err
	}
	return reported, nil
}

// extraArgs appends the synced-at and run id parameters.
func (s *Sink) extraArgs(args []any) []any {
	if s.hasSynced {
		args = append(args, s.clock().UTC().Truncate(time.Microsecond))
	}
	if s.hasRun {
		if s.runID == "" {
			args = append(args, nil)
		} else {
			args = append(args, s.runID)
		}
	}
	return args
}

// arrayArgs builds the array parameters of the array insert: keys, source updatedAts and
// every value column in text form.
func (s *Sink) arrayArgs(items []*item) []any {
	keys := make([]string, len(items))
	suas := make([]time.Time, len(items))
	cols := make([][]pgtype.Text, len(s.vals))
	for c := range cols {
		cols[c] = make([]pgtype.Text, len(items))
	}
	for n, it := range items {
		keys[n], suas[n] = it.rec.Key, it.sua
		for c := range s.vals {
			str, ok := textForm(s.value(it, &s.vals[c]))
			cols[c][n] = pgtype.Text{String: str, Valid: ok}
		}
	}
	args := make([]any, 0, 2+len(cols)+2)
	args = append(args, keys, suas)
	for _, c := range cols {
		args = append(args, c)
	}
	return s.extraArgs(args)
}

func deleteArgs(items []*item) []any {
	keys := make([]string, len(items))
	suas := make([]time.Time, len(items))
	for n, it := range items {
		keys[n], suas[n] = it.rec.Key, it.sua
	}
	return []any{keys, suas}
}

// textForm renders a value as PostgreSQL accepts it in a cast from text; ok is false for
// nil (NULL) and for values of other types.
func textForm(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case connector.Decimal:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN", true
		case math.IsInf(x, 1):
			return "Infinity", true
		case math.IsInf(x, -1):
			return "-Infinity", true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case time.Time:
		return x.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00"), true
	case connector.JSON:
		return string(x), true
	}
	return "", false
}

// maxKeptCopyBuf bounds the COPY buffer kept between batches.
const maxKeptCopyBuf = 4 << 20

// encodeCopy appends the items to buf as a binary COPY stream for the stage table, whose
// columns are then all text (see qCopyText): the key, the source updatedAt
// (microseconds since 2000-01-01 UTC) and each value in its text form, as the other path
// stages them. It spares pgx's per-value encoding.
func (s *Sink) encodeCopy(buf []byte, items []*item) []byte {
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension length
	appendText := func(buf []byte, str string) []byte {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(str)))
		return append(buf, str...)
	}
	for _, it := range items {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(s.copyCols)))
		buf = appendText(buf, it.rec.Key)
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(it.sua.UnixMicro()-pgEpochMicros))
		for n := range s.vals {
			str, ok := textForm(s.value(it, &s.vals[n]))
			if !ok {
				buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32) // -1: NULL
				continue
			}
			buf = appendText(buf, str)
		}
	}
	return binary.BigEndian.AppendUint16(buf, math.MaxUint16) // -1: end of data
}

// copyRows feeds COPY: one row per item, values in their native form for native columns
// and text form otherwise. The row slice is reused.
type copyRows struct {
	s     *Sink
	items []*item
	i     int
	row   []any
}

func (c *copyRows) Next() bool { c.i++; return c.i < len(c.items) }

func (c *copyRows) Values() ([]any, error) {
	it := c.items[c.i]
	c.row[0], c.row[1] = it.rec.Key, it.sua
	for n := range c.s.vals {
		v := &c.s.vals[n]
		c.row[n+2] = native(v.fam, c.s.value(it, v))
	}
	return c.row, nil
}

func (c *copyRows) Err() error { return nil }

// native converts a checked value to what pgx encodes for its staged column.
func native(fam family, v any) any {
	if v == nil {
		return nil
	}
	switch fam {
	case famInt, famBool:
		return v
	case famFloat:
		if n, ok := v.(int64); ok {
			return float64(n)
		}
		return v
	case famTime:
		return v.(time.Time).UTC().Truncate(time.Microsecond)
	case famJSON:
		return []byte(v.(connector.JSON))
	}
	if _, ok := v.(string); ok {
		return v // already boxed: no allocation
	}
	str, ok := textForm(v)
	if !ok {
		return nil
	}
	return str
}

// CountWindow counts rows whose stored source updatedAt is in [from, to].
func (s *Sink) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, s.qCount, from.UTC(), to.UTC()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %q with source updated_at in [%s, %s]: %w", s.rel.name,
			from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// Close closes the connection pool.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}

var (
	_ connector.Sink    = (*Sink)(nil)
	_ connector.Counter = (*Sink)(nil)
	_ connector.Source  = (*Source)(nil)
	_ connector.Fetcher = (*Source)(nil)
	_ connector.Counter = (*Source)(nil)
)
