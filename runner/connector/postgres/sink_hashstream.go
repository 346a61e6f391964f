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
// (copyBinary), and the pairs are handed over in runs (pairArena): one string, not two,
// per run of pairs. A key or hash yielded shares its run's memory: a caller keeping one
// for long should copy it (strings.Clone). Stopping early ends the COPY (its connection
// is closed, not reused).
func (s *Sink) StreamHashes(ctx context.Context) iter.Seq2[connector.KeyHash, error] {
	return func(yield func(connector.KeyHash, error) bool) {
		if s.qHashes == "" {
			yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: no hash column configured (spec.sink.postgres.hashColumn)", s.rel.name))
			return
		}
		// StoredHashes' statement without its key condition: the same columns and rows.
		sel, _, _ := strings.Cut(s.qHashes, " WHERE ")
		q := fmt.Sprintf("%s WHERE %s IS NOT NULL", sel, quote(s.hashCol.name))
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
			return
		}
		defer conn.Release()
		var a pairArena
		stopped := false
		_, err = copyBinary(ctx, conn.Conn().PgConn(), q, func(f [][]byte) error {
			if len(f) != 2 {
				return fmt.Errorf("COPY row has %d columns, want 2", len(f))
			}
			if f[0] == nil || f[1] == nil {
				return nil // not a stored hash (the statement excludes them)
			}
			if a.add(f[0], f[1]) && !a.drain(yield) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
			if !stopped {
				yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
			}
			return
		}
		a.drain(yield)
	}
}

// pairArena collects key-hash pairs into runs of about arenaBytes, each run one string
// whose substrings are its keys and hashes (as keyArena does for keys).
type pairArena struct {
	buf  []byte
	ends []int32 // key i ends at ends[2i], its hash at ends[2i+1]
}

// add appends a copy of a key and its hash and reports whether the run is full.
func (a *pairArena) add(key, hash []byte) bool {
	a.buf = append(a.buf, key...)
	a.ends = append(a.ends, int32(len(a.buf)))
	a.buf = append(a.buf, hash...)
	a.ends = append(a.ends, int32(len(a.buf)))
	return len(a.buf) >= arenaBytes || len(a.ends) >= 2*arenaKeys
}

// drain hands the pairs added since the last drain to yield, in order; false: yield
// asked to stop.
func (a *pairArena) drain(yield func(connector.KeyHash, error) bool) bool {
	s := string(a.buf)
	ends := a.ends
	a.buf, a.ends = a.buf[:0], a.ends[:0] // the pairs are substrings of s: ends can be reused
	start := int32(0)
	for i := 0; i+1 < len(ends); i += 2 {
		kh := connector.KeyHash{Key: s[start:ends[i]], Hash: s[ends[i]:ends[i+1]]}
		start = ends[i+1]
		if !yield(kh, nil) {
			return false
		}
	}
	return true
}

var _ connector.HashStreamer = (*Sink)(nil)
