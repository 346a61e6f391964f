package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Full key reconciliation by digests: when both the source's key listing and the sink's
// can digest their keys (connector.KeyDigester), each side's digest is made first, both at
// once; equal digests (same method, same number of keys, same digest) mean the sink holds
// no key the source lacks, and the reconciliation ends without listing a key. Anything else
// — digests that differ, a side that cannot digest, an error while digesting — goes on to
// the listing and merge of every key, which alone decides what is deleted: a digest never
// deletes anything. The seeds are drawn afresh for each reconciliation, so that two
// different key sets whose digests happened to collide once are told apart the next time.

// sameKeys reports whether the digests of the source's and the sink's keys are equal, and
// logs the reconciliation when they are. false: the keys must be merged (including when a
// digest failed: the merge reports its own errors).
func (r *run) sameKeys(ctx context.Context, src, dst connector.KeyLister) bool {
	ds, ok1 := src.(connector.KeyDigester)
	dd, ok2 := dst.(connector.KeyDigester)
	if !ok1 || !ok2 {
		return false
	}
	start := time.Now()
	a, b, err := digestBoth(ctx, ds.KeyDigest, dd.KeyDigest)
	if err != nil {
		r.log.Info("full key reconciliation: no key digest, merging the keys", "error", err.Error())
		return false
	}
	if !a.Equal(b) {
		r.log.Info("full key reconciliation: the key digests differ, merging the keys",
			"sourceKeys", a.Keys, "sinkKeys", b.Keys, "took", time.Since(start).String())
		return false
	}
	r.log.Info("full key reconciliation", "sourceKeys", a.Keys, "sinkKeys", b.Keys, "absentFromSource", 0,
		"by", "equal key digests", "took", time.Since(start).String())
	return true
}

// digestBoth makes the two sides' digests at once, under the same seeds drawn afresh: a
// pair of sets whose digests collided under one pair of seeds is told apart the next time.
// The error is the first side's that failed.
func digestBoth(ctx context.Context, src, dst func(context.Context, [2]int64) (connector.KeyDigest, error)) (a, b connector.KeyDigest, err error) {
	seeds := [2]int64{rand.Int64(), rand.Int64()}
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { a, errA = src(ctx, seeds) })
	b, errB = dst(ctx, seeds)
	wg.Wait()
	if err = errors.Join(errA, errB); err != nil {
		return connector.KeyDigest{}, connector.KeyDigest{}, err
	}
	return a, b, nil
}

// digestKeys is a mappedKeys whose source digests its field's values
// (connector.FieldDigester): a connector.KeyDigester of the keys it lists.
type digestKeys struct{ mappedKeys }

// KeyDigest implements connector.KeyDigester.
func (m digestKeys) KeyDigest(ctx context.Context, seeds [2]int64) (connector.KeyDigest, error) {
	return m.src.(connector.FieldDigester).FieldDigest(ctx, m.field, m.prefix, seeds)
}
