package engine

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Snapshot by digests. With hashes of source records (snapshot_rowhash.go), a source that
// digests its rows as it reads them (connector.HashScanner) and a key computed from the
// record id alone (KeyMapper.KeyFields names no field), a Snapshot run's pages are read
// as ids and digests: no record is decoded into its fields, and none is mapped, unless its
// digest differs from the hash the sink stores for its key. A record's hash is then its
// digest, seeded by Config.SnapshotRowHash (the fingerprint), in hex; a record that does
// differ is decoded from the very bytes its digest was taken of, mapped and written with
// that hash, so that equal hashes still mean equal written records. Hashes stored in
// another form (RowHash's, by an earlier runner) never equal a digest: each such record is
// written once more, with its digest.

// useDigests makes the scan of a run hashing source records read digests, when the
// source and the key allow it.
func useDigests(cfg Config, scan *scanReader) {
	hs, ok := cfg.Source.(connector.HashScanner)
	if !ok {
		return
	}
	km, ok := cfg.Mapper.(KeyMapper)
	if !ok {
		return
	}
	if fields, ok := km.KeyFields(); !ok || len(fields) > 0 {
		return
	}
	scan.hashed, scan.seed = hs, cfg.SnapshotRowHash
}

// readHashed is read for a scan of digests: the page's records carry their ids only; hp
// holds their digests and decodes them. The records are made in spare when it has room
// (the slice of a page written before).
func (s *scanReader) readHashed(ctx context.Context, after cursor.Cursor, limit int, spare []connector.Record) (connector.Page, connector.HashedPage, error) {
	ahead := s.take()
	var hp connector.HashedPage
	if ahead != nil && ahead.after == after.ID && ahead.limit == limit && ahead.err == nil {
		hp = ahead.hp
	} else {
		var err error
		if hp, err = s.hashed.ScanHashed(ctx, after.ID, limit, s.seed); err != nil {
			return connector.Page{}, connector.HashedPage{}, err
		}
	}
	if len(hp.Sums) != len(hp.IDs) {
		return connector.Page{}, connector.HashedPage{}, fmt.Errorf("scan after id %q: %d ids but %d digests", after.ID, len(hp.IDs), len(hp.Sums))
	}
	if n := len(hp.IDs); hp.More && n > 0 && s.ahead.Load() && ctx.Err() == nil {
		a := &scanAhead{after: hp.IDs[n-1], limit: limit, done: make(chan struct{})}
		s.mu.Lock()
		s.next = a
		s.mu.Unlock()
		go func() {
			defer close(a.done)
			a.hp, a.err = s.hashed.ScanHashed(ctx, a.after, a.limit, s.seed)
		}()
	}
	var recs []connector.Record
	if cap(spare) >= len(hp.IDs) {
		recs = spare[:len(hp.IDs)]
		clear(spare[len(hp.IDs):cap(spare)]) // no id of the page before stays named
	} else {
		recs = make([]connector.Record, len(hp.IDs))
	}
	for i, id := range hp.IDs {
		recs[i] = connector.Record{ID: id}
	}
	return connector.Page{Records: recs, More: hp.More}, hp, nil
}

// end waits for a page read ahead, if any, and ends a scan of digests.
func (s *scanReader) end() {
	s.take()
	if s.hashed != nil {
		s.hashed.EndScan()
	}
	s.window.close()
	s.window = nil
}

// digestPage is hashPage for a page of digests: each record's key (from its id) and hash
// (its digest), one lookup of the hashes the sink stores for the page's keys, and the
// records whose hash differs are decoded (replacing recs[i]) and mapped; the others are
// held. While pages are mostly changing, every record is decoded and mapped and the
// output compares. A record that cannot be decoded fails the page, as ScanPage would.
func (r *run) digestPage(ctx context.Context, recs []connector.Record, hp connector.HashedPage, spare []connector.WriteRecord) (mapResults, error) {
	var m mapResults
	if cap(spare) >= len(recs) { // the mappings' slice of a page written before (pages.go)
		m.w = spare[:len(recs)]
		clear(m.w)
	} else {
		m.w = make([]connector.WriteRecord, len(recs))
	}
	mapAt := func(i int) error {
		rec, err := hp.Record(i)
		if err != nil {
			return fmt.Errorf("decode record %s: %w", recs[i].ID, err)
		}
		if rec.ID != recs[i].ID {
			return fmt.Errorf("decoded record %s, want %s", rec.ID, recs[i].ID)
		}
		recs[i] = rec
		// mapRecord without its RowHash: the record's hash is its digest.
		var w connector.WriteRecord
		if rc, ok := r.cfg.Source.(connector.RecordChecker); ok {
			err = rc.RecordError(rec)
		}
		if err == nil {
			w, err = r.cfg.Mapper.Map(rec)
		}
		if err != nil {
			if m.err == nil {
				m.err = make([]error, len(recs))
			}
			m.err[i] = err
			m.w[i] = connector.WriteRecord{}
			return nil
		}
		w.Hash = hex.EncodeToString(hp.Sums[i][:])
		m.w[i] = w
		return nil
	}
	if r.rows.changing.Load() { // the output compares (hashOutput.upsert)
		if w := r.scan.window; w != nil {
			w.skip(len(recs))
		}
		for i := range recs {
			if err := mapAt(i); err != nil {
				return mapResults{}, err
			}
		}
		return m, nil
	}
	// The page's keys, in scratch slices of the scan: pages are digested one at a time.
	sc := &r.scan.scratch
	keyed := slices.Grow(sc.keyed[:0], len(recs))[:len(recs)]
	clear(keyed)
	keys := slices.Grow(sc.keys[:0], len(recs))
	defer func() {
		clear(keys) // no key stays named past its page
		sc.keyed, sc.keys = keyed[:0], keys[:0]
	}()
	// A key that is the id behind a prefix is made in one string of the page's keys.
	prefix, byID := "", false
	if km, ok := r.rows.keys.(IDKeyMapper); ok {
		prefix, byID = km.IDKeyPrefix()
	}
	var pageKeys string
	if byID {
		buf := sc.keyBytes[:0]
		for _, rec := range recs {
			buf = append(append(buf, prefix...), rec.ID...)
		}
		pageKeys = string(buf)
		if cap(buf) <= maxKeyBytes {
			sc.keyBytes = buf[:0]
		}
	}
	at := 0 // where the next record's key starts in pageKeys
	for i, rec := range recs {
		var key string
		var err error
		if byID && rec.ID != "" {
			key = pageKeys[at : at+len(prefix)+len(rec.ID)]
		} else {
			key, _, err = r.rows.keys.KeyOf(rec)
		}
		at += len(prefix) + len(rec.ID)
		if err != nil {
			continue // mapRecord reports Map's own error
		}
		m.w[i] = connector.WriteRecord{Key: key, SourceID: rec.ID}
		keyed[i] = true
		keys = append(keys, key)
	}
	var stored []storedHash // by index in keys
	if len(keys) > 0 {
		var err error
		if stored, err = r.storedHashes(ctx, keys, sc); err != nil {
			stored = nil // every record is mapped: the output's lookup reports the error
		} else {
			m.held = make([]bool, len(recs))
		}
	}
	held := 0
	k := 0 // index in keys of the next keyed record
	for i := range recs {
		if keyed[i] && m.held != nil {
			h := &stored[k]
			k++
			if h.equals(&hp.Sums[i]) {
				m.held[i] = true
				held++
				continue
			}
		}
		if err := mapAt(i); err != nil {
			return mapResults{}, err
		}
	}
	if m.held != nil {
		r.rows.setChanging(mostlyChanged(held, len(recs)))
	}
	return m, nil
}

// storedHash is a hash the sink stores, kept when it has the length of a digest's hex
// form (the form a digest is stored in): set is false when there is none, or when it has
// another length (a hash of another form, which equals no digest).
type storedHash struct {
	hex [32]byte
	set bool
}

// storedOf keeps a stored hash, its text or its bytes (see storedHash).
func storedOf[T string | []byte](h T) storedHash {
	var out storedHash
	if len(h) == len(out.hex) {
		copy(out.hex[:], h)
		out.set = true
	}
	return out
}

// equals reports whether the stored hash is sum in lower-case hex (hex.EncodeToString's
// form), without encoding sum.
func (h *storedHash) equals(sum *[16]byte) bool {
	const digits = "0123456789abcdef"
	if !h.set {
		return false
	}
	for i, b := range sum {
		if h.hex[2*i] != digits[b>>4] || h.hex[2*i+1] != digits[b&0x0f] {
			return false
		}
	}
	return true
}

// storedHashes reads the hashes stored for keys, by index: those the sink's stream holds
// in the window (when the sink streams them), the others by one lookup. The answer is
// made in sc.stored, valid until the next call.
func (r *run) storedHashes(ctx context.Context, keys []string, sc *digestScratch) ([]storedHash, error) {
	out := slices.Grow(sc.stored[:0], len(keys))[:len(keys)]
	clear(out)
	sc.stored = out
	var missing []int
	if w := r.startWindow(ctx); w != nil {
		missing = w.lookup(keys, out)
	} else {
		missing = make([]int, len(keys))
		for i := range missing {
			missing[i] = i
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	ask := make([]string, len(missing))
	for j, i := range missing {
		ask[j] = keys[i]
	}
	rest, err := r.rows.hashes.StoredHashes(ctx, ask)
	if err != nil {
		return nil, err
	}
	for _, i := range missing {
		if h, ok := rest[keys[i]]; ok {
			out[i] = storedOf(h)
		}
	}
	return out, nil
}

// startWindow returns the scan's window on the sink's stream of stored hashes, started
// at the first call; nil when the sink does not stream them. The scan's first page starts
// it before it is read (readAhead), so that both statements start together.
func (r *run) startWindow(ctx context.Context) *hashWindow {
	if r.scan.window == nil {
		hs, ok := r.rows.hashes.(connector.HashStreamer)
		if !ok {
			return nil
		}
		r.scan.window = newHashWindow(ctx, hs)
	}
	return r.scan.window
}

// digestScratch holds digestPage's slices between pages.
type digestScratch struct {
	keyed    []bool
	keys     []string
	keyBytes []byte // the page's keys, when made from ids
	stored   []storedHash
}

// maxKeyBytes bounds the buffer of a page's keys kept for the next page.
const maxKeyBytes = 1 << 20

// IDKeyMapper is an optional capability of a KeyMapper: the key of every record with a
// non-empty id is prefix + its id, and no record is marked deleted (what KeyOf returns),
// when ok. A Snapshot run by digests then makes the keys of a page as one string.
type IDKeyMapper interface {
	IDKeyPrefix() (prefix string, ok bool)
}

// decodedOnly returns the records of a page of digests that were decoded: recs itself
// when all were, else a new slice.
func decodedOnly(recs []connector.Record) []connector.Record {
	all := true
	for _, rec := range recs {
		if rec.Fields == nil {
			all = false
			break
		}
	}
	if all {
		return recs
	}
	var out []connector.Record
	for _, rec := range recs {
		if rec.Fields != nil {
			out = append(out, rec)
		}
	}
	return out
}

// releaseDecoded hands back the Fields of a page of digests' decoded records
// (releaseFields), once the page is mapped and checked: the page then waits to be written
// holding its mappings but not its source values. recs keeps no map handed back.
func (r *run) releaseDecoded(recs []connector.Record) {
	fr, ok := r.cfg.Source.(connector.FieldsRecycler)
	if !ok || r.cfg.DryRun {
		return
	}
	dec := decodedOnly(recs) // recs itself, or copies of its decoded records
	if len(dec) == 0 {
		return
	}
	fr.RecycleFields(dec)
	for i := range recs { // no map handed back stays named by the page (Recycle would hand it back again)
		recs[i].Fields = nil
	}
}

// The bounds of the stored hashes a Snapshot run keeps from the sink's stream
// (connector.HashStreamer): at most windowPending entries wait in the window (about
// 1.5 MiB), and an entry is dropped once windowAge keys were asked after it was read.
const (
	windowPending = 1 << 14
	windowAge     = 1 << 15
)

// hashWindow matches the keys of a scan of digests with the sink's stream of stored hashes,
// in bounded memory. The stream follows the order the sink keeps its records in, which
// for a sink this mode filled mostly follows the scan's order: a page's key is mostly the
// stream's next one. Entries read but not yet asked for wait in the window (at most
// windowPending: a key missing from the stream reads no further); an entry waiting while
// windowAge keys were asked is dropped (a key the source no longer holds, or one far out
// of order): the window keeps up with a stream holding up to one such key for every two
// asked. A key not met this way is missing, and looked up by StoredHashes:
// the window saves lookups, it never decides alone that a record is unchanged but by the
// stored hash it read.
type hashWindow struct {
	batches chan hashBatch // the stream, read ahead in its own goroutine
	free    chan hashBatch // batches read, for the goroutine to fill again
	cancel  context.CancelFunc
	cur     hashBatch // the batch being read, from pos on
	pos     int
	seen    map[string]storedHash // key -> stored hash: read, not yet asked for
	queue   []waiting             // the entries kept, in read order, from head on
	head    int
	asked   int  // keys of the scan passed so far
	ended   bool // the stream yields no more
	failed  bool // the stream ended with an error after cur
}

// waiting is an entry kept in the window: its key and the keys asked when it was read.
type waiting struct {
	key string
	at  int
}

// hashBatch is a batch of the stream: runs copied into one run of the window's own
// (the stream reuses the memory of its runs), or the stream's error after them.
type hashBatch struct {
	run connector.KeyHashRun
	err error
}

// Bounds of a batch: the stream's goroutine hands over this many pairs, or about this
// many bytes, at once; a few batches wait at most.
const (
	streamBatch      = 2048
	streamBatchBytes = 64 << 10
)

func newHashWindow(ctx context.Context, hs connector.HashStreamer) *hashWindow {
	ctx, cancel := context.WithCancel(ctx)
	w := &hashWindow{batches: make(chan hashBatch, 4), free: make(chan hashBatch, 4), cancel: cancel, seen: map[string]storedHash{}}
	fresh := func() hashBatch {
		select {
		case b := <-w.free:
			b.run.Reset()
			return b
		default:
			return hashBatch{run: connector.KeyHashRun{Buf: make([]byte, 0, streamBatchBytes+1024), Ends: make([]int32, 0, 2*streamBatch)}}
		}
	}
	go func() {
		defer close(w.batches)
		send := func(b hashBatch) bool {
			select {
			case w.batches <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		b := fresh()
		for run, err := range hs.StreamHashes(ctx) {
			if err != nil {
				b.err = err
				send(b)
				return
			}
			for i := range run.Len() {
				b.run.Append(run.At(i))
				if b.run.Len() == streamBatch || len(b.run.Buf) >= streamBatchBytes {
					if !send(b) {
						return
					}
					b = fresh()
				}
			}
		}
		send(b)
	}()
	return w
}

// next returns the stream's next entry, which shares the memory of its batch (valid
// until the batch after it is read); false at its end or error.
func (w *hashWindow) next() (key, hash []byte, ok bool) {
	for w.pos >= w.cur.run.Len() {
		if w.failed {
			return nil, nil, false
		}
		b, ok := <-w.batches
		if !ok {
			return nil, nil, false
		}
		if w.cur.run.Buf != nil { // read: what was kept of it was copied out (lookup)
			select {
			case w.free <- w.cur:
			default:
			}
		}
		// After an error, the entries before it are good; the rest is looked up (a
		// failing sink fails there).
		w.failed = b.err != nil
		w.cur, w.pos = b, 0
	}
	key, hash = w.cur.run.At(w.pos)
	w.pos++
	return key, hash, true
}

// close stops the stream and waits for its goroutine.
func (w *hashWindow) close() {
	if w == nil {
		return
	}
	w.cancel()
	for range w.batches { // the goroutine closes it when it returns
	}
}

// skip counts n keys of the scan that were not asked for.
func (w *hashWindow) skip(n int) { w.asked += n }

// lookup sets found[i] to the stored hash of keys[i] met in the stream, and returns the
// indexes of the keys it did not meet in the window.
func (w *hashWindow) lookup(keys []string, found []storedHash) (missing []int) {
	for i, k := range keys {
		w.asked++
		w.age()
		if len(w.seen) > 0 {
			if h, ok := w.seen[k]; ok {
				found[i] = h
				delete(w.seen, k)
				continue
			}
		}
		ok := false
		for !w.ended && len(w.seen) < windowPending {
			key, hash, more := w.next()
			if !more {
				w.ended = true // the rest is looked up
				break
			}
			if string(key) == k {
				found[i] = storedOf(hash)
				ok = true
				break
			}
			ks := string(key) // a copy: the batch's memory is reused
			w.seen[ks] = storedOf(hash)
			w.queue = append(w.queue, waiting{key: ks, at: w.asked})
		}
		if !ok {
			missing = append(missing, i)
		}
	}
	return missing
}

// age drops the entries that waited while windowAge keys were asked.
func (w *hashWindow) age() {
	for w.head < len(w.queue) && w.asked-w.queue[w.head].at > windowAge {
		delete(w.seen, w.queue[w.head].key) // a no-op when it was asked for already
		w.queue[w.head] = waiting{}
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.queue) {
		w.queue = append(w.queue[:0], w.queue[w.head:]...)
		w.head = 0
	}
}
