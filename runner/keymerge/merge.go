// Package keymerge walks two key-ordered streams together in bounded memory: the source's
// keys and the sink's keys, each ascending in byte order (Go's string comparison,
// PostgreSQL's COLLATE "C"). Full key reconciliation uses it to find keys the sink holds
// and the source lacks; nothing but the current item of each stream is held, never a set
// of all keys.
package keymerge

import (
	"context"
	"fmt"
	"iter"
)

// Side says which streams hold a key.
type Side int

// Sides of a key.
const (
	// SourceOnly: only the first stream (the source) holds the key.
	SourceOnly Side = iota
	// SinkOnly: only the second stream (the sink) holds the key.
	SinkOnly
	// Both streams hold the key.
	Both
)

// String names the side.
func (s Side) String() string {
	switch s {
	case SourceOnly:
		return "source-only"
	case SinkOnly:
		return "sink-only"
	case Both:
		return "both"
	}
	return fmt.Sprintf("side(%d)", int(s))
}

// Merge walks src and dst, each yielding items strictly ascending by key (byte order), and
// calls fn once per distinct key with the items that hold it (nil for the side that lacks
// it). Items carry whatever goes with a key (a hash, for a snapshot comparison); key
// extracts it. A stream that yields a key not strictly greater than its previous one is an
// error naming the stream and both keys: merging out-of-order streams would report keys
// as missing that are not, so it never goes on. An error from a stream or from fn ends
// the merge and is returned.
func Merge[A, B any](ctx context.Context, src iter.Seq2[A, error], srcKey func(A) string,
	dst iter.Seq2[B, error], dstKey func(B) string, fn func(key string, a *A, b *B) error) error {
	nextA, stopA := iter.Pull2(src)
	defer stopA()
	nextB, stopB := iter.Pull2(dst)
	defer stopB()

	a, okA, err := pull(nextA, srcKey, "source", nil)
	if err != nil {
		return err
	}
	b, okB, err := pull(nextB, dstKey, "sink", nil)
	if err != nil {
		return err
	}
	for okA || okB {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ka, kb string
		if okA {
			ka = srcKey(a)
		}
		if okB {
			kb = dstKey(b)
		}
		switch {
		case okA && (!okB || ka < kb):
			if err := fn(ka, &a, nil); err != nil {
				return err
			}
			if a, okA, err = pull(nextA, srcKey, "source", &ka); err != nil {
				return err
			}
		case okB && (!okA || kb < ka):
			if err := fn(kb, nil, &b); err != nil {
				return err
			}
			if b, okB, err = pull(nextB, dstKey, "sink", &kb); err != nil {
				return err
			}
		default: // equal keys
			if err := fn(ka, &a, &b); err != nil {
				return err
			}
			if a, okA, err = pull(nextA, srcKey, "source", &ka); err != nil {
				return err
			}
			if b, okB, err = pull(nextB, dstKey, "sink", &kb); err != nil {
				return err
			}
		}
	}
	return nil
}

// pull takes the next item of a stream and checks it comes strictly after prev (nil: the
// first item).
func pull[T any](next func() (T, error, bool), key func(T) string, name string, prev *string) (T, bool, error) {
	v, err, ok := next()
	if !ok {
		var zero T
		return zero, false, nil
	}
	if err != nil {
		after := "the start"
		if prev != nil {
			after = fmt.Sprintf("%q", *prev)
		}
		return v, false, fmt.Errorf("list %s keys after %s: %w", name, after, err)
	}
	if k := key(v); prev != nil && k <= *prev {
		return v, false, fmt.Errorf("%s keys are not ascending in byte order: %q after %q", name, k, *prev)
	}
	return v, true, nil
}

// Keys merges two streams of plain keys: fn learns each distinct key and which side holds
// it.
func Keys(ctx context.Context, src, dst iter.Seq2[string, error], fn func(key string, side Side) error) error {
	id := func(s string) string { return s }
	return Merge(ctx, src, id, dst, id, func(key string, a, b *string) error {
		switch {
		case a != nil && b != nil:
			return fn(key, Both)
		case a != nil:
			return fn(key, SourceOnly)
		}
		return fn(key, SinkOnly)
	})
}
