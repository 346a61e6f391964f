package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// Snapshot mode (Config.Snapshot) syncs a source without a reliable updatedAt: every run
// scans the whole source ascending by id (connector.Scanner), maps each record, computes
// its content hash (RecordHash) and writes only the records whose hash differs from the
// one the sink stored for that key (connector.HashReader), one keyed lookup per page;
// the others count as Unchanged. Memory stays bounded by the page: no set of all keys is
// kept. The committed position is the last id of the confirmed prefix (cursor time zero),
// so that a run cut short resumes its scan there; a complete run stores no position, and
// the next run scans from the first id again.

// snapshotScope is the scope of a Snapshot run: the whole source, by id. It resumes from
// a stored scan position (a cursor with a zero time) and otherwise starts at the first id;
// a complete run stores no position, so that the next one scans everything again.
type snapshotScope struct{}

func (snapshotScope) resume(st runcontract.Checkpoint, _ cursor.IDOrder) (cursor.Cursor, cursor.Cursor, bool) {
	if c := st.Cursor; c != nil && c.UpdatedAt.IsZero() && c.ID != "" {
		return *c, *c, true // a scan cut short: go on after its last confirmed id
	}
	// Nothing stored, a complete scan, or an Incremental cursor (a time): scan everything.
	return cursor.Beginning, cursor.Cursor{}, true
}

// limit: the scope is the whole source.
func (snapshotScope) limit(_ order, recs []connector.Record, mapped mapResults) ([]connector.Record, mapResults, bool) {
	return recs, mapped, false
}

func (snapshotScope) record(st *runcontract.Checkpoint, committed *cursor.Cursor, done bool) {
	if done {
		st.Cursor = nil // the scan is complete: the next run starts at the first id
		return
	}
	st.Cursor = committed
}

// scanReader reads a Snapshot run's pages: the page after the id of `after`, by id. While
// pages come out unchanged (ahead, set by the hashing of source records), it reads one
// page ahead of its caller: once a page is read, the next one (after its last id) is read
// in its own goroutine, so that the source's reading overlaps the hashing of the page
// before. Pages with changes are not read ahead: those hold their mapped records, and a
// third page in memory would pass the runner's memory budget. Scans stay sequential
// (never two ScanPage calls at once); a page read ahead that the caller does not ask for
// is dropped.
type scanReader struct {
	scanner connector.Scanner
	// hashed, when set (snapshot_digest.go), reads pages of ids and digests instead
	// (readHashed), seeded with seed.
	hashed connector.HashScanner
	seed   string
	// window matches a scan of digests with the sink's stream of stored hashes; nil until
	// the first lookup, or when the sink does not stream them (snapshot_digest.go).
	window *hashWindow
	// scratch is digestPage's, which digests one page at a time.
	scratch digestScratch
	ahead   atomic.Bool
	mu      sync.Mutex
	next    *scanAhead // the page being read ahead; nil: none
}

// scanAhead is one page read ahead: ScanPage(after, limit), done once done is closed.
type scanAhead struct {
	after string
	limit int
	done  chan struct{}
	page  connector.Page
	hp    connector.HashedPage // readHashed's page
	err   error
}

func (s *scanReader) read(ctx context.Context, after cursor.Cursor, limit int) (connector.Page, error) {
	ahead := s.take()
	var page connector.Page
	if ahead != nil && ahead.after == after.ID && ahead.limit == limit && ahead.err == nil {
		page = ahead.page
	} else {
		var err error
		if page, err = s.scanner.ScanPage(ctx, after.ID, limit); err != nil {
			return connector.Page{}, err
		}
	}
	if n := len(page.Records); page.More && n > 0 && s.ahead.Load() && ctx.Err() == nil {
		a := &scanAhead{after: page.Records[n-1].ID, limit: limit, done: make(chan struct{})}
		s.mu.Lock()
		s.next = a
		s.mu.Unlock()
		go func() {
			defer close(a.done)
			a.page, a.err = s.scanner.ScanPage(ctx, a.after, a.limit)
		}()
	}
	return page, nil
}

// take returns the page read ahead, once its read has ended (nil: none), and forgets it.
func (s *scanReader) take() *scanAhead {
	s.mu.Lock()
	a := s.next
	s.next = nil
	s.mu.Unlock()
	if a != nil {
		<-a.done
	}
	return a
}

// hashOutput is the output of a Snapshot run: before a batch goes to the sink, each
// record gets its content hash, the hashes stored for the batch's keys are read (one
// lookup), and only the records whose hash differs or is absent are written; the others
// are reported Unchanged without a write.
type hashOutput struct {
	output
	hashes connector.HashReader
	// rows, when records are hashed as read (snapshot_rowhash.go): they arrive with their
	// hashes set, which are compared as they are, or not at all once rows.checked.
	rows *rowHashing
}

func (o hashOutput) upsert(ctx context.Context, batch []connector.WriteRecord) ([]connector.Result, error) {
	if o.rows != nil && o.rows.checked {
		return o.output.upsert(ctx, batch) // compared with the stored hashes before mapping
	}
	keys := make([]string, len(batch))
	for i := range batch {
		if o.rows == nil {
			batch[i].Hash = RecordHash(batch[i])
		}
		keys[i] = batch[i].Key
	}
	stored, err := o.hashes.StoredHashes(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the stored hashes of %d keys: %w", len(keys), err)
	}
	held := 0
	results, err := upsertExcept(ctx, o.output, batch, func(w *connector.WriteRecord) (connector.Result, bool) {
		if h, ok := stored[w.Key]; ok && h == w.Hash {
			held++
			return connector.Result{Outcome: connector.Unchanged}, true
		}
		return connector.Result{}, false
	})
	if o.rows != nil && err == nil { // the read-ahead compares again once pages stop changing
		o.rows.setChanging(mostlyChanged(held, len(batch)))
	}
	return results, err
}

// RecordHash is a record's content hash in Snapshot mode: SHA-256 of a canonical, typed
// encoding of its key, its Deleted flag and its values (sorted by field name, each value
// tagged with its Go type, so that 1 and "1" differ, and a missing field differs from a
// null one), truncated to 128 bits, in hex. It does not depend on map order, on a time's
// location (only its instant) nor on SourceID or SourceUpdatedAt, so that it is stable
// across runs; equal hashes mean equal mapped records.
func RecordHash(w connector.WriteRecord) string {
	sc := hashScratch.Get().(*hashBuf)
	defer hashScratch.Put(sc)
	buf := appendString(sc.buf[:0], 'k', w.Key)
	if w.Deleted {
		buf = append(buf, 'D')
	} else {
		buf = append(buf, 'L')
	}
	names := sc.names[:0]
	for name := range w.Values {
		names = append(names, name)
	}
	slices.Sort(names)
	buf = binary.AppendUvarint(buf, uint64(len(names)))
	for _, name := range names {
		buf = appendString(buf, 'f', name)
		buf = appendValue(buf, w.Values[name])
	}
	sum := sha256.Sum256(buf)
	if cap(buf) <= 1<<20 { // a huge record's encoding is not kept
		sc.buf = buf[:0]
	}
	clear(names)
	sc.names = names[:0]
	return hex.EncodeToString(sum[:16])
}

// hashBuf is RecordHash's reusable scratch: the encoding and the sorted field names.
type hashBuf struct {
	buf   []byte
	names []string
	// rowNames are the sorted field names of the last source record RowHash saw.
	rowNames []string
}

var hashScratch = sync.Pool{New: func() any { return &hashBuf{} }}

// appendString appends a tag, the length and the bytes of s.
func appendString(buf []byte, tag byte, s string) []byte {
	buf = append(buf, tag)
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendValue appends one value in its typed encoding.
func appendValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, 'n')
	case string:
		return appendString(buf, 's', x)
	case int64:
		return binary.BigEndian.AppendUint64(append(buf, 'i'), uint64(x))
	case connector.Decimal:
		return appendString(buf, 'd', string(x))
	case bool:
		if x {
			return append(buf, 'b', 1)
		}
		return append(buf, 'b', 0)
	case time.Time:
		buf = binary.BigEndian.AppendUint64(append(buf, 't'), uint64(x.Unix()))
		return binary.BigEndian.AppendUint32(buf, uint32(x.Nanosecond()))
	case connector.JSON:
		return appendString(buf, 'j', string(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(buf, 'F'), math.Float64bits(x))
	}
	// Not a mapped type (WriteRecord.Values holds none): its Go type and value.
	return appendString(buf, 'x', fmt.Sprintf("%T:%#v", v, v))
}

// counter: a Snapshot run has no updatedAt window, so there is no drift check.
func (hashOutput) counter() connector.Counter { return nil }
