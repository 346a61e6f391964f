package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// The write path. Each statement is INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE the
// stored source updatedAt is NULL or not newer than the record's and the stored values
// differ from the record's (see buildSQL). A batch below the copy threshold without hard
// deletes is that one statement, in its own transaction (one round trip); a larger one is
// COPY into a temporary table and the merge from it; hard deletes are a second statement
// in the same transaction.
//
// Each statement reports every row it wrote or found stale (a stale row takes a no-op
// update that sets every column to its stored value, so it is locked and returned without
// changing; row-level UPDATE triggers and logical decoding do see that update); a record
// not reported is Unchanged. No second statement is needed per batch.
//
// When PostgreSQL rejects a row, the batch is retried in halves under savepoints until
// the rejected rows are isolated (writeIsolated).

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
	if useCopy {
		if err := s.ensureStage(ctx, conn); err != nil {
			return err
		}
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
	tx, err := conn.BeginTx(ctx, asyncPage)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if len(ups) > 0 {
		if useCopy {
			if err := s.copyToStage(ctx, tx, ups); err != nil {
				return err
			}
			merge := s.qMergeCopy
			if skipUnchangedFirst(s.lastPage) {
				merge = s.qMergeCopyChanged
			}
			reported, err = s.returning(ctx, tx, reported, merge, s.extraArgs(nil)...)
			s.lastPage = pageOutcome{staged: len(ups), reported: len(reported)}
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
	s.unflushed = true
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
	tx, err := conn.BeginTx(ctx, asyncPage)
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
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.unflushed = true
	return nil
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

// pageOutcome is what one COPY page's merge found: the rows staged, and those it
// reported (written or stale); the rest were unchanged.
type pageOutcome struct {
	staged, reported int
}

// skipUnchangedFirst decides, from the previous COPY page (the pages of a run are
// alike: a full load writes nearly every row, a re-upsert after a reset finds nearly every
// row unchanged), whether the next page's merge first leaves out the rows the table
// already holds as they are (qMergeCopyChanged). That costs one index probe per staged
// row, about a third more than the merge for new rows, and saves the row lock, its WAL
// and its dirtied page that ON CONFLICT spends on every unchanged row, about a third of
// the merge for unchanged rows: it pays when at least half the rows were unchanged. The
// first page, with nothing before it, is merged directly.
func skipUnchangedFirst(prev pageOutcome) bool {
	return prev.staged > 0 && 2*(prev.staged-prev.reported) >= prev.staged
}
