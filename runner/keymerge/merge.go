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
	"strings"
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
	sa := &stream[A]{name: "source", key: srcKey, next: nextA}
	sb := &stream[B]{name: "sink", key: dstKey, next: nextB}
	if err := sa.advance(); err != nil {
		return err
	}
	if err := sb.advance(); err != nil {
		return err
	}
	for n := 0; sa.ok || sb.ok; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var c int // the order of the two current keys
		switch {
		case sa.ok && sb.ok:
			c = strings.Compare(sa.k, sb.k)
		case sa.ok:
			c = -1
		default:
			c = 1
		}
		switch {
		case c < 0:
			if err := fn(sa.k, &sa.item, nil); err != nil {
				return err
			}
			if err := sa.advance(); err != nil {
				return err
			}
		case c > 0:
			if err := fn(sb.k, nil, &sb.item); err != nil {
				return err
			}
			if err := sb.advance(); err != nil {
				return err
			}
		default: // equal keys
			if err := fn(sa.k, &sa.item, &sb.item); err != nil {
				return err
			}
			if err := sa.advance(); err != nil {
				return err
			}
			if err := sb.advance(); err != nil {
				return err
			}
		}
	}
	return nil
}

// stream is one side of a merge: its current item and key (ok: it has one), read from the
// batches its goroutine hands over.
type stream[T any] struct {
	name  string
	key   func(T) string
	next  func(done []T) ([]T, error, bool)
	batch []T
	pos   int
	item  T
	k     string
	ok    bool
}

// advance moves to the stream's next item and checks that its key comes strictly after
// the current one.
func (s *stream[T]) advance() error {
	prev, started := s.k, s.ok
	if s.pos++; s.pos >= len(s.batch) {
		b, err, ok := s.next(s.batch)
		s.batch, s.pos = b, 0
		if !ok {
			var zero T
			s.item, s.ok = zero, false
			return nil
		}
		if err != nil {
			s.ok = false
			after := "the start"
			if started {
				after = fmt.Sprintf("%q", prev)
			}
			return fmt.Errorf("list %s keys after %s: %w", s.name, after, err)
		}
	}
	s.item = s.batch[s.pos]
	s.k = s.key(s.item)
	if started && s.k <= prev {
		s.ok = false
		return fmt.Errorf("%s keys are not ascending in byte order: %q after %q", s.name, s.k, prev)
	}
	s.ok = true
	return nil
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

// pullBatched runs a stream in its own goroutine: the goroutine collects items in batches
// of batchSize and hands them over through a channel of batchDepth, so that the stream
// works while the caller merges and neither pays a switch per item. next returns the next
// batch (ok false: the stream has ended; an error is the stream's last batch, without
// items) and takes back the batch the caller is done with (nil: none) for reuse. stop ends
// the stream (its yield returns false at the next hand-over) and waits for its goroutine
// to finish.
func pullBatched[T any](seq iter.Seq2[T, error]) (next func(done []T) ([]T, error, bool), stop func()) {
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
	next = func(done []T) ([]T, error, bool) {
		if done != nil {
			clear(done) // no references kept in a recycled batch
			select {
			case free <- done[:0]:
			default:
			}
		}
		b, ok := <-ch
		if !ok {
			return nil, nil, false
		}
		return b.items, b.err, true
	}
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done) })
		<-finished
	}
	return next, stop
}
