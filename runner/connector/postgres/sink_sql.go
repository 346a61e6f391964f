package postgres

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// stageTable is the per-connection temporary table COPY writes into.
const stageTable = "checkpointed_stage"

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
	s.qCopy = fmt.Sprintf("COPY %s (%s) FROM STDIN BINARY", stageTable, strings.Join(s.copyCols, ", "))
	// Flush: one row lock (WAL-logged, no data changed) and the WAL position, in one
	// statement that commits on its own.
	s.qFlush = fmt.Sprintf("WITH l AS (SELECT 1 FROM %s LIMIT 1 FOR KEY SHARE SKIP LOCKED) SELECT count(*) > 0, pg_current_wal_insert_lsn()::text FROM l", table)

	// The insert's column list and the ON CONFLICT tail, shared by both paths. Casts go
	// to the type without modifier so that assignment to the column applies the modifier
	// the same way on both paths (varchar(10) rejects, it does not truncate).
	cols := []string{k, u}
	var set, old, new []string // set: the columns the update sets
	set = append(set, u)
	if s.unversioned { // no source version column: the stage's u is not written
		cols, set = []string{k}, nil
	}
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
	returning := fmt.Sprintf(" RETURNING t.%s::text, t.%s", k, u)
	if s.unversioned {
		// No stale guard: a row is rewritten when its values (the hash among them) differ.
		plain := make([]string, len(set))
		for i, c := range set {
			plain[i] = fmt.Sprintf("%s = EXCLUDED.%s", c, c)
		}
		conflict = fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)",
			k, strings.Join(plain, ", "), strings.Join(old[1:], ", "), strings.Join(new[1:], ", "))
		returning = fmt.Sprintf(" RETURNING t.%s::text, NULL::timestamptz", k)
	}
	insert := fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT ", table, strings.Join(cols, ", "))

	selectList := func(castAll bool, firstParam int) string {
		exprs := []string{"s.k", "s.u"}
		if s.unversioned {
			exprs = exprs[:1]
		}
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
	s.qMergeCopyChanged = insert + selectList(false, 1) + " FROM " + stageTable + " s" +
		" WHERE NOT " + s.storedAsStaged(table, k, u) + conflict + returning

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
	live := ""
	for _, v := range s.vals {
		if v.softDl {
			live = fmt.Sprintf(" AND %s IS NULL", quote(v.col.name))
		}
	}
	s.qCount += live

	// The keyed read of the drift check: live rows only, values in their native type
	// except numeric-like, uuid and JSON columns, read as text (see ReadByKeys).
	read := []string{k + "::text", u}
	if s.unversioned {
		read[1] = "NULL::timestamptz" // Snapshot mode: no source version is stored
	}
	for _, v := range s.vals {
		if v.softDl {
			continue
		}
		c := quote(v.col.name)
		if v.fam == famText || v.fam == famJSON {
			c += "::text"
		}
		read = append(read, c)
	}
	s.qRead = fmt.Sprintf("SELECT %s FROM %s WHERE %s = ANY($1::text[])%s", strings.Join(read, ", "), table, k, live)
	if s.unversioned {
		s.qDelete = fmt.Sprintf(`DELETE FROM %[1]s AS t USING unnest($1::text[], $2::timestamptz[]) AS d(k, u) WHERE t.%[2]s = d.k RETURNING t.%[2]s::text, NULL::timestamptz`,
			table, k)
		s.qCount = ""
	}
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

// storedAsStaged is the condition that the stage row s (of the COPY path) is what the
// table already holds for its key: the row exists and its source version and values are
// not distinct from s's, compared as the merge's conflict filter compares them (json as
// jsonb). It is false, not NULL, when no row holds the key. It reads the stored row by
// key (a correlated subquery: one probe of the key's unique index per staged row, never a
// scan of the table), so a staged row it holds true for is left out of the insert before
// ON CONFLICT sees it: ON CONFLICT DO UPDATE locks the conflicting row even when its
// WHERE is false, which writes WAL and dirties the page of every unchanged row.
func (s *Sink) storedAsStaged(table, k, u string) string {
	var stored, staged []string
	if !s.unversioned {
		stored, staged = append(stored, "o."+u), append(staged, "s.u")
	}
	for i, v := range s.vals {
		c := "o." + quote(v.col.name)
		e := fmt.Sprintf("s.c%d", i)
		if v.fam == famText {
			e = fmt.Sprintf("s.c%d::%s", i, v.col.typ)
		}
		if v.col.oid == oidJSON { // json has no equality operator
			c, e = c+"::jsonb", "("+e+")::jsonb"
		}
		stored, staged = append(stored, c), append(staged, e)
	}
	return fmt.Sprintf("COALESCE((SELECT (%s) IS NOT DISTINCT FROM (%s) FROM %s AS o WHERE o.%s = s.k), false)",
		strings.Join(stored, ", "), strings.Join(staged, ", "), table, k)
}
