package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// asyncPage begins a page's transaction with asynchronous commit: its COMMIT returns once
// the commit is in the WAL buffers, without waiting for the disk flush (a few
// milliseconds per page on a local disk, more on network storage). The page is visible at
// once and atomic as before; a crash of the server within about three times
// wal_writer_delay may undo it, so it is durable only once Flush returns. The statement
// is sent in one round trip (pgx sends a statement without arguments as a simple query).
var asyncPage = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"}

// flushPoll is how often Flush asks whether the WAL writer has flushed past the sink's
// writes, when it could not force the flush itself (flushWait).
const flushPoll = 10 * time.Millisecond

// Flush makes every page the sink committed asynchronously since the last Flush durable
// (connector.Flusher). It sends nothing when there is none.
//
// A commit waits for the WAL flush only if its transaction wrote WAL (PostgreSQL commits a
// transaction that wrote none asynchronously, whatever synchronous_commit says), and the
// flush of one commit covers every commit before it. So Flush commits one statement, with
// the session's own synchronous_commit, that writes a WAL record without changing data: it
// takes FOR KEY SHARE, the weakest row lock, on one row of the table that no one else has
// locked (a lock is WAL-logged; it blocks no insert or update of the row's other columns
// and is released at once). Only if it found no such row (an empty table) does Flush wait
// for the WAL writer instead (flushWait).
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unflushed {
		return nil
	}
	if err := s.flush(ctx); err != nil {
		return fmt.Errorf("flush the writes into %q to disk: %w", s.rel.name, err)
	}
	s.unflushed = false
	return nil
}

func (s *Sink) flush(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var locked bool
	var lsn string
	if err := conn.QueryRow(ctx, s.qFlush).Scan(&locked, &lsn); err != nil {
		return err
	}
	if locked {
		return nil
	}
	return flushWait(ctx, conn.Conn(), lsn)
}

// flushWait waits until the WAL is flushed up to lsn: the WAL writer flushes an
// asynchronous commit within about three times wal_writer_delay (200 ms by default).
func flushWait(ctx context.Context, conn *pgx.Conn, lsn string) error {
	for {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the WAL flush up to %s: %w", lsn, ctx.Err())
		case <-time.After(flushPoll):
		}
	}
}

var _ connector.Flusher = (*Sink)(nil)
