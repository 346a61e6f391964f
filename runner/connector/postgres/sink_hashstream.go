package postgres

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// StreamHashes yields every key whose row holds a hash, with the hash, as StoredHashes
// reads them, by one statement in the table's physical order (a sequential scan: no
// index, no sort), which for a table the runner filled follows the order it wrote the
// rows in (connector.HashStreamer). The statement is read as one binary COPY
// (copyBinary), and the pairs are handed over in runs of up to streamRunPairs pairs or
// about streamRunBytes, in one buffer reused from run to run: no string is made per key
// or per hash. Stopping early ends the COPY (its connection is closed, not reused).
func (s *Sink) StreamHashes(ctx context.Context) iter.Seq2[connector.KeyHashRun, error] {
	return func(yield func(connector.KeyHashRun, error) bool) {
		if s.qHashes == "" {
			yield(connector.KeyHashRun{}, fmt.Errorf("stream stored hashes from %q: no hash column configured (spec.sink.postgres.hashColumn)", s.rel.name))
			return
		}
		// StoredHashes' statement without its key condition: the same columns and rows.
		sel, _, _ := strings.Cut(s.qHashes, " WHERE ")
		q := fmt.Sprintf("%s WHERE %s IS NOT NULL", sel, quote(s.hashCol.name))
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			yield(connector.KeyHashRun{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
			return
		}
		defer conn.Release()
		run := connector.KeyHashRun{Buf: make([]byte, 0, streamRunBytes+512), Ends: make([]int32, 0, 2*streamRunPairs)}
		stopped := false
		_, err = copyBinary(ctx, conn.Conn().PgConn(), q, func(f [][]byte) error {
			if len(f) != 2 {
				return fmt.Errorf("COPY row has %d columns, want 2", len(f))
			}
			if f[0] == nil || f[1] == nil {
				return nil // not a stored hash (the statement excludes them)
			}
			run.Append(f[0], f[1])
			if len(run.Buf) >= streamRunBytes || len(run.Ends) >= 2*streamRunPairs {
				if !yield(run, nil) {
					stopped = true
					return errStopped
				}
				run.Reset()
			}
			return nil
		})
		if err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
			if !stopped {
				yield(connector.KeyHashRun{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
			}
			return
		}
		if run.Len() > 0 {
			yield(run, nil)
		}
	}
}

// Bounds of a run of StreamHashes.
const (
	streamRunBytes = 32 << 10
	streamRunPairs = 1024
)

var _ connector.HashStreamer = (*Sink)(nil)
