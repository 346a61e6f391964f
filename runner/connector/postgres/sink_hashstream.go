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
// rows in (connector.HashStreamer).
func (s *Sink) StreamHashes(ctx context.Context) iter.Seq2[connector.KeyHash, error] {
	return func(yield func(connector.KeyHash, error) bool) {
		if s.qHashes == "" {
			yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: no hash column configured (spec.sink.postgres.hashColumn)", s.rel.name))
			return
		}
		// StoredHashes' statement without its key condition: the same columns and rows.
		sel, _, _ := strings.Cut(s.qHashes, " WHERE ")
		q := fmt.Sprintf("%s WHERE %s IS NOT NULL", sel, quote(s.hashCol.name))
		rows, err := s.pool.Query(ctx, q)
		if err != nil {
			yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			raw := rows.RawValues()
			if len(raw) != 2 || raw[0] == nil || raw[1] == nil {
				continue
			}
			if !yield(connector.KeyHash{Key: string(raw[0]), Hash: string(raw[1])}, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(connector.KeyHash{}, fmt.Errorf("stream stored hashes from %q: %w", s.rel.name, err))
		}
	}
}

var _ connector.HashStreamer = (*Sink)(nil)
