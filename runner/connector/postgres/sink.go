package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// SinkOptions are what one run of the sink needs besides its SinkConfig. The zero value
// is usable.
type SinkOptions struct {
	// RunID is stored in SinkConfig.RunIDColumn, when set, on every row this sink writes
	// (NULL when empty).
	RunID string
	// Clock gives the time stored in SinkConfig.SyncedAtColumn. Defaults to time.Now.
	Clock func() time.Time
	// ConnectTimeout bounds establishing a connection. Defaults to the DSN's
	// connect_timeout, else DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Logger receives debug messages. It never receives the DSN or record values.
	Logger logr.Logger
}

// Sink upserts records into a PostgreSQL table by external key. It implements
// connector.Sink, connector.Counter and connector.KeyReader and is safe for concurrent use (upserts are
// serialized).
//
// Each Upsert is one transaction. Outcomes: Written (inserted, updated or, for a hard
// delete, deleted), Unchanged (the row already holds these values and this source version:
// it is left alone, its synced-at and run id included, so a run that only re-reads rows
// writes nothing; also a deleted record under DeleteIgnore, or a hard delete of a missing
// row), Stale (the row holds a newer source version and is left alone), Failed (the value
// does not fit its column, or PostgreSQL rejected the row with a data exception or an
// integrity violation; the batch's other records are still written).
//
// Several records with one key in a batch: the newest SourceUpdatedAt (the last of equal
// ones) is written; the older ones are reported Stale, the equal ones share its outcome.
//
// Values are checked against their column: int columns take int64, float columns float64
// or int64, bool columns bool, timestamptz/timestamp/date columns time.Time (timestamp
// columns get the UTC wall time), json/jsonb columns connector.JSON; text columns take any
// value in its text form, and numeric, uuid and other columns any value whose text form
// PostgreSQL accepts. A value the column would store changed fails instead of being
// written: more decimal places than a numeric's scale, more fractional seconds than a
// timestamp's precision (microseconds when unconstrained), a time of day into a date, a
// text longer than a varchar(n) or char(n), an integer out of a smallint's or integer's
// range or not exact in a real or double precision. SinkConfig.FieldTypes lets setup
// refuse a column that can hold no value of its field's type.
type Sink struct {
	pool          *pgxpool.Pool
	log           logr.Logger
	clock         func() time.Time
	runID         string
	rel           *relation
	copyThreshold int
	deleteMode    DeleteMode
	vals          []sinkColumn
	types         map[string]connector.FieldType // the mapped type of each field, if known
	hasSynced     bool
	hasRun        bool
	unversioned   bool   // SinkConfig.Unversioned: no source version column, no stale guard
	hashCol       column // SinkConfig.HashColumn, when set
	qHashes       string // the stored hashes of the keys $1; "" without a hash column
	qHashRange    string // keys and stored hashes in [$1, $2] in key order, at most $3 rows; "" unless the key column compares in byte order
	qVersions     string // the stored source versions of the keys $1 (sink_versions.go); "" when unversioned
	suaCol        string // the source updated-at column's name; "" when unversioned
	keyCol        string // the key column's name, when versioned (CountAdvice)
	softDlCol     string // the soft-delete column's name; "" without one

	qStage, qMergeCopy, qMergeArrays, qDelete, qCount, qRead string
	// qMergeCopyChanged is qMergeCopy that leaves out the staged rows the table already
	// holds as they are (storedAsStaged), for pages that are mostly unchanged
	// (skipUnchangedFirst); lastPage is what the previous COPY page's merge found.
	qMergeCopyChanged string
	lastPage          pageOutcome
	// unflushed: a page was committed asynchronously since the last Flush; qFlush is the
	// statement Flush sends (sink_flush.go).
	unflushed bool
	qFlush    string
	keyq      keyQueries // full key reconciliation (keys.go)
	copyCols  []string
	qCopy     string // COPY into the stage table, binary (stageStream)
	copyBuf   []byte // scratch of one Upsert: the COPY stream's buffer (stageStream)

	mu     sync.Mutex
	staged map[*pgx.Conn]bool // connections holding the stage table
	pos    map[string]int     // scratch of one Upsert: key -> winner's batch index
	itemAt []*item            // scratch of one Upsert: batch index -> item, if any
	slab   []item             // scratch of one Upsert: the items, cleared after it
	suas   []time.Time        // scratch of one Upsert: batch index -> truncated SourceUpdatedAt
	done   []bool             // scratch of one Upsert: batch index -> result decided

	vrange versionRange // StoredVersionsBetween (sink_versions.go)
}

// NewSink validates cfg, connects, checks the table against cfg and prepares the
// statements. dsn is the resolved connection string; it never appears in errors.
func NewSink(ctx context.Context, cfg SinkConfig, dsn string, opts SinkOptions) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		log:           opts.Logger,
		clock:         opts.Clock,
		runID:         opts.RunID,
		copyThreshold: cfg.CopyThreshold,
		deleteMode:    cfg.DeleteMode,
		types:         cfg.FieldTypes,
		staged:        map[*pgx.Conn]bool{},
		pos:           map[string]int{},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	pool, err := connect(ctx, dsn, opts.ConnectTimeout, 2, func(pc *pgxpool.Config) {
		pc.BeforeClose = func(c *pgx.Conn) {
			s.mu.Lock()
			delete(s.staged, c)
			s.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	s.pool = pool
	if err := s.setup(ctx, cfg); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
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

// check refuses values that do not fit their column's family, and values the column would
// store changed (rounded, cut, out of range: see limits).
func (s *Sink) check(rec *connector.WriteRecord) error {
	for _, v := range s.vals {
		if v.softDl || v.hash {
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
		if why := v.lim.fitError(val, v.col.full); why != "" {
			return &connector.RecordError{ID: rec.SourceID, Field: v.field, Reason: "value would be changed by the column",
				Detail: describeValue(val) + ": " + why}
		}
	}
	return nil
}

// value returns the record's value for column v (the soft-delete column included).
func (s *Sink) value(it *item, v *sinkColumn) any {
	if v.softDl {
		switch {
		case !it.rec.Deleted:
			return nil
		case s.unversioned: // no source version to date the delete by: the time it is written
			return s.clock().UTC().Truncate(time.Microsecond)
		}
		return it.sua
	}
	if v.hash {
		if it.rec.Hash == "" {
			return nil
		}
		return it.rec.Hash
	}
	return it.rec.Values[v.field]
}

// StoredHashes returns the hash stored with each of keys (SinkConfig.HashColumn); keys
// without a row, or whose row has no hash, are absent. One query per call, usually: when
// the key column compares in byte order, the rows between the smallest and the largest
// key are read as one index range (keys of consecutive ids are mostly neighbours there) and
// those not asked for are dropped; a range holding more than twice as many rows as keys
// asked for is abandoned for one lookup of each key (hashRange).
func (s *Sink) StoredHashes(ctx context.Context, keys []string) (map[string]string, error) {
	if s.qHashes == "" {
		return nil, fmt.Errorf("read stored hashes from %q: no hash column configured (spec.sink.postgres.hashColumn)", s.rel.name)
	}
	out := make(map[string]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if s.qHashRange != "" && len(keys) >= hashRangeMin {
		done, err := s.hashRange(ctx, keys, out)
		if err != nil {
			return nil, fmt.Errorf("read stored hashes of %d keys from %q: %w", len(keys), s.rel.name, err)
		}
		if done {
			return out, nil
		}
		clear(out)
	}
	rows, err := s.pool.Query(ctx, s.qHashes, keys)
	if err != nil {
		return nil, fmt.Errorf("read stored hashes of %d keys from %q: %w", len(keys), s.rel.name, err)
	}
	defer rows.Close()
	var k, h string
	for rows.Next() {
		if err := rows.Scan(&k, &h); err != nil {
			return nil, fmt.Errorf("read stored hashes from %q: %w", s.rel.name, err)
		}
		out[k] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored hashes of %d keys from %q: %w", len(keys), s.rel.name, err)
	}
	return out, nil
}

// hashRangeMin is the fewest keys StoredHashes reads as a key range.
const hashRangeMin = 64

// hashRange reads the stored hashes of keys as the rows of one key range [smallest,
// largest] (byte order, the key column's own), into out. done false: the range holds more
// than 2 × len(keys) + hashRangeMin rows, so it was abandoned (out holds part of the
// answer and must be discarded).
func (s *Sink) hashRange(ctx context.Context, keys []string, out map[string]string) (done bool, err error) {
	// Keys already in byte order (a page of consecutive ids of one length) are matched
	// with the rows, which come in the same order, by one walk; others through a map.
	sorted := slices.IsSorted(keys)
	var want map[string]int // key -> its index in keys
	lo, hi := keys[0], keys[len(keys)-1]
	if !sorted {
		want = make(map[string]int, len(keys))
		lo = keys[0]
		for i, k := range keys {
			want[k] = i
			lo, hi = min(lo, k), max(hi, k)
		}
	}
	limit := 2*len(keys) + hashRangeMin
	rows, err := s.pool.Query(ctx, s.qHashRange, lo, hi, limit+1)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	n, j := 0, 0
	for rows.Next() {
		if n++; n > limit {
			return false, nil
		}
		// The text of both columns as received: only the hashes asked for become strings
		// (comparing or looking up string(bytes) allocates nothing; the key is the caller's).
		raw := rows.RawValues()
		if len(raw) != 2 {
			return false, fmt.Errorf("stored hashes: %d columns, want 2", len(raw))
		}
		if raw[1] == nil {
			continue
		}
		if sorted {
			for j < len(keys) && keys[j] < string(raw[0]) {
				j++
			}
			if j < len(keys) && keys[j] == string(raw[0]) {
				out[keys[j]] = string(raw[1])
			}
			continue
		}
		if i, ok := want[string(raw[0])]; ok {
			out[keys[i]] = string(raw[1])
		}
	}
	return rows.Err() == nil, rows.Err()
}

// CountWindow counts rows whose stored source updatedAt is in [from, to], leaving out
// soft-deleted rows (DeleteSoft: the delete column is set). It is cheap with an index on
// the source updated-at column, and then counts without parallel workers (count_serial.go).
func (s *Sink) CountWindow(ctx context.Context, from, to time.Time) (int64, error) {
	if s.unversioned {
		return 0, fmt.Errorf("count rows of %q: the sink stores no source version (Snapshot mode)", s.rel.name)
	}
	var n int64
	var err error
	if s.versionsIndexed(ctx) { // a range of the index: no parallel workers (count_serial.go)
		n, err = countSerially(ctx, s.pool, s.qCount, from.UTC(), to.UTC())
	} else {
		err = s.pool.QueryRow(ctx, s.qCount, from.UTC(), to.UTC()).Scan(&n)
	}
	if err != nil {
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

// ReleasesBatches reports that Upsert keeps nothing of a batch once it returns
// (connector.BatchReleaser): its scratch is cleared at the end of each call.
func (s *Sink) ReleasesBatches() bool { return true }

var (
	_ connector.BatchReleaser = (*Sink)(nil)
	_ connector.Sink          = (*Sink)(nil)
	_ connector.Counter       = (*Sink)(nil)
	_ connector.KeyReader     = (*Sink)(nil)
)
