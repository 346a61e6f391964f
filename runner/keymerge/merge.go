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
	"sync"
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
//
// Each stream runs in its own goroutine, handing its items over in batches of a bounded
// number (pullBatched): both listings are read at the same time, and nothing is held
// beyond a few batches per stream. The streams must therefore not depend on the caller's
// goroutine; both have ended when Merge returns.
func Merge[A, B any](ctx context.Context, src iter.Seq2[A, error], srcKey func(A) string,
	dst iter.Seq2[B, error], dstKey func(B) string, fn func(key string, a *A, b *B) error) error {
	nextA, stopA := pullBatched(src)
	defer stopA()
	nextB, stopB := pullBatched(dst)
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

// Batching of a stream: batchSize items per hand-over, at most batchDepth batches waiting.
const (
	batchSize  = 1024
	batchDepth = 4
)

// batch is a run of a stream's items, or the error that ended it.
type batch[T any] struct {
	items []T
	err   error
}

// pullBatched is iter.Pull2 for a stream run in its own goroutine: the goroutine collects
// items in batches of batchSize and hands them over through a channel of batchDepth, so that
// the stream works while the caller merges and neither pays a switch per item. An error is
// handed over as the stream's last item. stop ends the stream (its yield returns false at
// the next hand-over) and waits for its goroutine to finish.
func pullBatched[T any](seq iter.Seq2[T, error]) (next func() (T, error, bool), stop func()) {
	ch := make(chan batch[T], batchDepth)
	free := make(chan []T, batchDepth+2)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(ch)
		buf := make([]T, 0, batchSize)
		send := func(b batch[T]) bool {
			select {
			case ch <- b:
				return true
			case <-done:
				return false
			}
		}
		flush := func() bool {
			if len(buf) == 0 {
				return true
			}
			if !send(batch[T]{items: buf}) {
				return false
			}
			select {
			case buf = <-free:
			default:
				buf = make([]T, 0, batchSize)
			}
			return true
		}
		for v, err := range seq {
			if err != nil {
				if flush() {
					send(batch[T]{err: err})
				}
				return
			}
			buf = append(buf, v)
			if len(buf) == batchSize && !flush() {
				return
			}
		}
		flush()
	}()
	var cur []T
	pos := 0
	next = func() (T, error, bool) {
		var zero T
		for pos == len(cur) {
			if cur != nil {
				clear(cur) // no references kept in a recycled batch
				select {
				case free <- cur[:0]:
				default:
				}
				cur = nil
			}
			b, ok := <-ch
			if !ok {
				return zero, nil, false
			}
			if b.err != nil {
				return zero, b.err, true
			}
			cur, pos = b.items, 0
		}
		v := cur[pos]
		pos++
		return v, nil, true
	}
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done) })
		<-finished
	}
	return next, stop
}
