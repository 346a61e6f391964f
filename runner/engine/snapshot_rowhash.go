package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync/atomic"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Hashes of source records (Config.SnapshotRowHash). A Snapshot run over a source that did
// not change spends most of its time mapping records only to find their hashes equal to
// the stored ones. When the mapping's output depends on nothing but the source record and
// settings the fingerprint covers, the hash is taken over the record as read (RowHash)
// instead: the read-ahead computes each record's key alone (KeyMapper) and its hash, reads
// the hashes the sink stores for the page's keys (one lookup), and maps only the records
// whose hash differs; the others are confirmed Unchanged without being mapped or written.
// Equal hashes still mean equal written records: the same source record mapped by the
// same mapping under the same fingerprint yields the same record. Any change of the
// fingerprint (the mapping, the source's settings, the runner's conversion rules) changes
// every hash, so every record is written again once.

// rowHashing is a Snapshot run's hashing of source records; nil when the run hashes
// mapped records (no fingerprint, a dry run, or a sink that stores no hashes).
type rowHashing struct {
	fingerprint string
	keys        KeyMapper
	hashes      connector.HashReader
	scan        *scanReader // the run's scan, told when to read ahead; nil: none
	// checked is set by the writer while it upserts records of a page whose hashes the
	// read-ahead compared: the output does not read them again.
	checked bool
	// unchanged holds Unchanged results, the writer's answer for a page with nothing to
	// write (upsertPage): read only, shared by such pages.
	unchanged []connector.Result
	// changing: the last page compared had more than a few changed records. The read-ahead
	// then maps every record and leaves the comparison to the output, as without hashes
	// of source records, so that a load's work stays split between reader and writer.
	changing atomic.Bool
}

// mostlyChanged reports whether a page of n records with held unchanged ones counts as
// changing: more than 1 in 20 records changed.
func mostlyChanged(held, n int) bool { return held < n-n/20 }

// setChanging records whether the last page compared was mostly changed, and lets the
// scan read ahead while it is not (unchanged pages are light: their records are not mapped).
func (h *rowHashing) setChanging(c bool) {
	h.changing.Store(c)
	if h.scan != nil {
		h.scan.ahead.Store(!c)
	}
}

// withRowHashing hands rows to a Snapshot run's output (hashOutput), if any.
func withRowHashing(out output, rows *rowHashing) output {
	if h, ok := out.(hashOutput); ok && rows != nil {
		h.rows = rows
		return h
	}
	return out
}

func newRowHashing(cfg Config) *rowHashing {
	if !cfg.Snapshot || cfg.SnapshotRowHash == "" || cfg.DryRun {
		return nil
	}
	km, okK := cfg.Mapper.(KeyMapper)
	hr, okH := cfg.Sink.(connector.HashReader)
	if !okK || !okH {
		return nil
	}
	return &rowHashing{fingerprint: cfg.SnapshotRowHash, keys: km, hashes: hr}
}

// hashPage is the read-ahead's work on a page when records are hashed as read: each
// record's key and hash, one lookup of the hashes the sink stores for the page's keys,
// and the mapping of the records whose hash differs (or that have no key); the others are
// held: Unchanged, neither mapped nor written. Should the lookup fail, every record is
// mapped and nothing is held: the output's own lookup then meets the error and reports it
// as the sink's.
func (r *run) hashPage(ctx context.Context, recs []connector.Record) mapResults {
	m := mapResults{w: make([]connector.WriteRecord, len(recs))}
	if r.rows.changing.Load() { // the output compares (hashOutput.upsert)
		for i, rec := range recs {
			w, err := r.mapRecord(rec)
			if err != nil {
				if m.err == nil {
					m.err = make([]error, len(recs))
				}
				m.err[i] = err
				continue
			}
			m.w[i] = w
		}
		return m
	}
	keyed := make([]bool, len(recs))
	keys := make([]string, 0, len(recs))
	for i, rec := range recs {
		if rc, ok := r.cfg.Source.(connector.RecordChecker); ok && rc.RecordError(rec) != nil {
			continue // mapRecord reports it
		}
		key, _, err := r.rows.keys.KeyOf(rec)
		if err != nil {
			continue // mapRecord reports Map's own error
		}
		m.w[i] = connector.WriteRecord{Key: key, SourceID: rec.ID, SourceUpdatedAt: rec.UpdatedAt, Hash: RowHash(r.rows.fingerprint, rec)}
		keyed[i] = true
		keys = append(keys, key)
	}
	var stored map[string]string
	if len(keys) > 0 {
		var err error
		if stored, err = r.rows.hashes.StoredHashes(ctx, keys); err != nil {
			stored = nil
		} else {
			m.held = make([]bool, len(recs))
		}
	}
	held := 0
	for i, rec := range recs {
		if keyed[i] && m.held != nil {
			if h, ok := stored[m.w[i].Key]; ok && h == m.w[i].Hash {
				m.held[i] = true
				held++
				continue
			}
		}
		w, err := r.mapRecord(rec) // sets the row hash
		if err != nil {
			if m.err == nil {
				m.err = make([]error, len(recs))
			}
			m.err[i] = err
			m.w[i] = connector.WriteRecord{}
			continue
		}
		m.w[i] = w
	}
	if m.held != nil {
		r.rows.setChanging(mostlyChanged(held, len(recs)))
	}
	return m
}

// upsertPage writes a page's batch; held[j] (nil: none) marks the records the check
// before mapping found unchanged: those are Unchanged without a write.
func (r *run) upsertPage(ctx context.Context, batch []connector.WriteRecord, held []bool) ([]connector.Result, error) {
	if held == nil {
		return r.out.upsert(ctx, batch)
	}
	n := 0 // records to write
	for _, h := range held {
		if !h {
			n++
		}
	}
	if n == 0 { // nothing changed: no batch of the page's size to allocate and clear
		if len(r.rows.unchanged) < len(batch) {
			r.rows.unchanged = make([]connector.Result, len(batch))
			for j := range r.rows.unchanged {
				r.rows.unchanged[j] = connector.Result{Outcome: connector.Unchanged}
			}
		}
		return r.rows.unchanged[:len(batch):len(batch)], nil
	}
	results := make([]connector.Result, len(batch))
	changed := make([]connector.WriteRecord, 0, n)
	at := make([]int, 0, n)
	for j := range batch {
		if held[j] {
			results[j] = connector.Result{Outcome: connector.Unchanged}
			continue
		}
		changed = append(changed, batch[j])
		at = append(at, j)
	}
	r.rows.checked = true
	written, err := r.out.upsert(ctx, changed)
	r.rows.checked = false
	if err != nil {
		return nil, err
	}
	for k, res := range written {
		results[at[k]] = res
	}
	return results, nil
}

// RowHash is a source record's hash in Snapshot mode with Config.SnapshotRowHash:
// SHA-256 of the fingerprint, the record id and its fields (sorted by name, each value in
// RecordHash's typed encoding; nested JSON objects with sorted keys), truncated to 128
// bits, in hex. It does not depend on map order, on a time's location or on UpdatedAt.
func RowHash(fingerprint string, rec connector.Record) string {
	sc := hashScratch.Get().(*hashBuf)
	defer hashScratch.Put(sc)
	buf := appendString(sc.buf[:0], 'r', fingerprint)
	buf = appendString(buf, 'i', rec.ID)
	buf = binary.AppendUvarint(buf, uint64(len(rec.Fields)))
	head := len(buf)
	// The records of a source mostly have the same fields: the sorted names of the last
	// record are tried first, and sorted anew when one is missing.
	ok := len(sc.rowNames) == len(rec.Fields)
	for _, name := range sc.rowNames {
		if !ok {
			break
		}
		var v any
		if v, ok = rec.Fields[name]; ok {
			buf = appendString(buf, 'f', name)
			buf = appendSourceValue(buf, v)
		}
	}
	if !ok {
		buf = buf[:head]
		names := sc.rowNames[:0]
		for name := range rec.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			buf = appendString(buf, 'f', name)
			buf = appendSourceValue(buf, rec.Fields[name])
		}
		sc.rowNames = names
	}
	sum := sha256.Sum256(buf)
	if cap(buf) <= 1<<20 {
		sc.buf = buf[:0]
	}
	return hex.EncodeToString(sum[:16])
}

// appendSourceValue appends a source value: a mapped type as appendValue does, JSON
// numbers, objects and arrays (as sources decode them) in their own typed encodings.
func appendSourceValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case json.Number:
		return appendString(buf, 'N', string(x))
	case []any:
		buf = binary.AppendUvarint(append(buf, 'A'), uint64(len(x)))
		for _, e := range x {
			buf = appendSourceValue(buf, e)
		}
		return buf
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = binary.AppendUvarint(append(buf, 'O'), uint64(len(keys)))
		for _, k := range keys {
			buf = appendString(buf, 'f', k)
			buf = appendSourceValue(buf, x[k])
		}
		return buf
	}
	return appendValue(buf, v)
}
