// Package connector is the contract between the sync engine and the sources and sinks it
// drives. Connectors implement these interfaces and never import the engine; the engine
// never imports a concrete connector.
package connector

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// FieldType is the type a mapping gives a field (spec.mapping[].type), hence the Go type
// of its values in WriteRecord.Values. Nothing is coerced into it.
type FieldType string

// Field types and the Go type of their values.
const (
	// TypeString values are string.
	TypeString FieldType = "string"
	// TypeInt values are int64.
	TypeInt FieldType = "int"
	// TypeDecimal values are Decimal.
	TypeDecimal FieldType = "decimal"
	// TypeBool values are bool.
	TypeBool FieldType = "bool"
	// TypeTimestamp values are time.Time.
	TypeTimestamp FieldType = "timestamp"
	// TypeJSON values are JSON.
	TypeJSON FieldType = "json"
)

// Record is one source record as read.
type Record struct {
	// ID is the record's id in string form (integers in decimal).
	ID string
	// UpdatedAt is the record's cursor time, in UTC at full source precision.
	UpdatedAt time.Time
	// Fields are the record's values by name, as plain Go values: nil, string, int64,
	// float64, bool, time.Time, Decimal, JSON-like map[string]any / []any.
	Fields map[string]any
}

// Cursor returns the record's position.
func (r Record) Cursor() cursor.Cursor { return cursor.Cursor{UpdatedAt: r.UpdatedAt, ID: r.ID} }

// Decimal is an exact decimal number in canonical text form ("-12.30"). Decimals never
// pass through float64.
type Decimal string

// JSON is a raw JSON document.
type JSON []byte

// Page is one page of records, ascending by (UpdatedAt, ID).
type Page struct {
	// Records in ascending (UpdatedAt, ID) order.
	Records []Record
	// More is false when the source has nothing after the last record of this page.
	More bool
}

// Source reads records in pages.
type Source interface {
	// ReadPage returns at most limit records strictly after `after`, ascending by
	// (UpdatedAt, ID). `after` with an empty ID means every record at or after its time.
	ReadPage(ctx context.Context, after cursor.Cursor, limit int) (Page, error)
	// CompareIDs orders two ids in the source's native order (for integer ids 9 < 10).
	CompareIDs(a, b string) int
	// Close releases the source's resources.
	Close() error
}

// Fetcher is an optional Source capability: fetch records by id. Records that failed in
// an earlier run are retried first through it. Missing ids are simply absent.
type Fetcher interface {
	FetchByIDs(ctx context.Context, ids []string) ([]Record, error)
}

// Columns is an optional Source capability: a source whose records always carry the same
// top-level fields (a table's columns) names them before anything is read, so that a
// mapping reading a field the source does not have is refused at setup instead of writing
// nulls.
type Columns interface {
	// Columns returns the source's name for messages (the table) and the top-level field
	// names every record may carry: all of them, unless the source was told to read only
	// the fields its caller reads (the postgres source's SourceOptions.Fields).
	Columns() (table string, names []string)
}

// RecordChecker is an optional Source capability: a source that can read a record it
// cannot stand behind (the postgres source, for a cursor wall time its declared zone
// skips) says so before the record is mapped. A non-nil error, a *RecordError, fails
// that record like a mapping error; nil lets it be mapped.
type RecordChecker interface {
	RecordError(Record) error
}

// Recycler is an optional Source capability: the engine hands back the records of a page
// read by ReadPage (or ScanPage, or decoded from a HashedPage) once it is done with them (the page is written and its
// outcome committed), and those of a page of ScanVersions once they are checked against the
// sink's versions (the records to write are fetched anew), and keeps no reference to them or to their Fields maps,
// so that the source may reuse those maps for later records instead of allocating new
// ones; the source may set their Fields to nil. Records read by
// other calls (FetchByIDs, the drift check's reads) are never handed back.
type Recycler interface {
	Recycle(records []Record)
}

// FieldsRecycler is an optional Source capability: the engine hands back the Fields maps
// of a page's records (read by ReadPage) as soon as it has mapped them, before the page
// is written: it reads nothing of a record's Fields after its mapping, and a mapping never
// keeps a record's Fields map itself (it copies what it takes). The records stay the
// engine's (their ids and cursors are still used); the source sets their Fields to nil
// and may reuse the maps for later records. A page whose Fields were handed back this way
// is still handed back with Recycle once written (then without Fields).
type FieldsRecycler interface {
	RecycleFields(records []Record)
}

// BatchReleaser is an optional Sink capability: ReleasesBatches reports that Upsert keeps
// no reference to the batch, its records or their Values maps once it returns, so that
// the caller may reuse the maps for later records.
type BatchReleaser interface {
	ReleasesBatches() bool
}

// FetchCapable is an optional capability of a Fetcher whose fetching by id depends on its
// configuration: CanFetchByID false means FetchByIDs would fail, so the engine retries
// failed records by reading the source again from the oldest of them instead.
type FetchCapable interface {
	CanFetchByID() bool
}

// Warner is an optional Source capability: a source whose way of reading cannot guarantee
// that a run sees every record (offset pagination over data that changes while the run
// pages) says so. Each warning goes into every run record of a run reading it.
type Warner interface {
	Warnings() []string
}

// Scanner is an optional Source capability, needed by Snapshot mode (a source without a
// reliable updatedAt): read the whole source in pages ascending by id, in the order
// CompareIDs defines, without any cursor time. Records carry a zero UpdatedAt.
type Scanner interface {
	// ScanPage returns at most limit records whose id is strictly after afterID ("" is
	// before every id), ascending by id. Page.More is false when nothing follows.
	ScanPage(ctx context.Context, afterID string, limit int) (Page, error)
}

// HashReader is an optional Sink capability, needed by Snapshot mode: the sink stores
// each record's WriteRecord.Hash next to it and reads the stored hashes back by key.
type HashReader interface {
	// StoredHashes returns the stored hash of each of keys that has a stored record with
	// a hash; keys without a record, or whose record has no hash, are absent. The engine
	// may call it while an Upsert of other keys is in flight (the read-ahead compares the
	// next page while the writer writes this one).
	StoredHashes(ctx context.Context, keys []string) (map[string]string, error)
}

// Counter is an optional capability of sources and sinks, used by the drift check: how
// many records have an UpdatedAt (sinks: stored source updatedAt) in [from, to].
type Counter interface {
	CountWindow(ctx context.Context, from, to time.Time) (int64, error)
}

// KeyCounter is an optional Sink capability, used by the delete valve: how many records
// the sink holds, whatever their stored source version (none, in Snapshot mode), leaving
// out records marked deleted. A Counter's window cannot say it: it misses records without
// a version.
type KeyCounter interface {
	CountKeys(ctx context.Context) (int64, error)
}

// SinkRecord is what a sink holds for one key.
type SinkRecord struct {
	Key             string
	SourceUpdatedAt time.Time
	Values          map[string]any
}

// KeyReader is an optional Sink capability: read stored records by external key; missing keys are absent.
type KeyReader interface {
	ReadByKeys(ctx context.Context, keys []string) ([]SinkRecord, error)
}

// VersionReader is an optional Sink capability, used for the records a run re-reads inside
// the safety gap: the source version (WriteRecord.SourceUpdatedAt, as stored) the sink
// holds for each key, read in one lookup. The engine writes a re-read record only when
// the sink holds no version for its key or a different one.
type VersionReader interface {
	// StoredVersions returns the stored source updatedAt (UTC) of each of keys whose live
	// record (not soft-deleted) has one; keys without such a record are absent.
	StoredVersions(ctx context.Context, keys []string) (map[string]time.Time, error)
}

// VersionReadCapable is an optional capability of a VersionReader whose reading depends on
// its configuration (a sink that stores no source version): CanReadVersions false means
// StoredVersions would fail or know nothing, so every re-read record is written as before.
type VersionReadCapable interface {
	CanReadVersions() bool
}

// VersionRangeReader is an optional capability of a VersionReader that reads the versions it
// holds by their value, one range scan for a page of re-read records whose versions lie
// close together, where a lookup by key probes each key.
type VersionRangeReader interface {
	// StoredVersionsBetween returns what StoredVersions would for every key whose live
	// record's stored source updatedAt is in [from, to], reading at most limit records;
	// complete is false (and the map nil) when there are more, or when the sink cannot read
	// such a range cheaply: the caller then looks the keys up with StoredVersions.
	StoredVersionsBetween(ctx context.Context, from, to time.Time, limit int) (versions map[string]time.Time, complete bool, err error)
}

// VersionScanner is an optional Source capability, used for the records a main run re-reads
// inside the safety gap: their positions (ID, UpdatedAt) without the rest of the record, so
// that the run compares them with the versions the sink holds (VersionReader) and reads in
// full only the records whose version the sink does not hold.
type VersionScanner interface {
	// ScanVersions returns at most limit records strictly after `after` (at or after its
	// time when its id is empty) and at or before until, in ReadPage's order and by its
	// rules (a record has the position ReadPage gives it). Each carries its ID, its
	// UpdatedAt and, in Fields, those of fields the source has, valued as ReadPage values
	// them (and possibly the id and cursor fields; no other). Page.More is false when no
	// record at or before until follows.
	ScanVersions(ctx context.Context, after, until cursor.Cursor, fields []string, limit int) (Page, error)
}

// VersionDigester is an optional Source capability, used by the overlap's version check
// before it scans: the KeyDigest of the pairs (external key, UpdatedAt) of every record
// whose UpdatedAt lies in [from, to], the external key being prefix + the text of the
// record's field (as FieldDigester makes it), under seeds. Keys counts the records, those
// whose field is null included (their pairs are not in the digest, so it cannot equal a
// sink's). A source that cannot digest these pairs exactly as ReadPage would position
// its records returns an error.
type VersionDigester interface {
	VersionDigest(ctx context.Context, field, prefix string, from, to time.Time, seeds [2]int64) (KeyDigest, error)
}

// StoredVersionDigester is an optional capability of a VersionReader: the KeyDigest of the
// pairs (key, stored source version) StoredVersionsBetween(from, to) would return, made by
// the same method as a VersionDigester's, under seeds. Equal digests of the two sides
// mean the sink holds exactly the version of every source record in [from, to] (and no
// other live record of a version in the range).
type StoredVersionDigester interface {
	StoredVersionDigest(ctx context.Context, from, to time.Time, seeds [2]int64) (KeyDigest, error)
}

// CountAdvisor is an optional capability of a Counter whose window count is cheap only
// with an index the connector cannot create itself: CountAdvice says, naming the table
// and the column, what is missing ("" when nothing is). `runner plan` and the preflight
// report it as a warning; a run works without it.
type CountAdvisor interface {
	CountAdvice(ctx context.Context) (string, error)
}

// CountCapable is an optional capability of a Counter whose counting depends on its
// configuration (an HTTP sink without a count URL): CanCount false means CountWindow would
// fail, so the drift check leaves the counts out without asking.
type CountCapable interface {
	CanCount() bool
}

// KeyReadCapable is an optional capability of a KeyReader whose reading by key depends on
// its configuration (an HTTP sink in Batch mode has no per-key URL): CanReadByKey false
// means ReadByKeys would fail, so the drift check leaves its sample out without asking.
type KeyReadCapable interface {
	CanReadByKey() bool
}

// KeyLister is an optional Sink capability, used by full key reconciliation (deletes): the
// external key of every record the sink holds, strictly after `after` ("" lists from the
// first), ascending in byte order (Go's string order; PostgreSQL's COLLATE "C"), each key
// once. The sequence ends at the first error, yielded with it. Implementations stream:
// they never hold all keys.
type KeyLister interface {
	Keys(ctx context.Context, after string) iter.Seq2[string, error]
}

// KeyListCapable is an optional capability of a KeyLister (or FieldLister) whose listing
// depends on its configuration (an HTTP sink without keysUrl): CanListKeys false means the
// listing would fail, so the caller treats it as absent.
type KeyListCapable interface {
	CanListKeys() bool
}

// FieldLister is an optional Source capability, used by full key reconciliation: the text
// form of top-level field `field` of every record the source holds (records a soft-delete
// marker flags included), strictly after `after`, ascending in byte order, each value once
// (the field is unique: the id). Integers are in decimal, as the record's ID.
type FieldLister interface {
	FieldValues(ctx context.Context, field, after string) iter.Seq2[string, error]
}

// PrefixedFieldLister is an optional capability of a FieldLister that puts a constant
// prefix before each value itself: the listing of FieldValues(ctx, field, after) with
// prefix before each value (after is a value, without the prefix). For keys mapped as
// "<prefix>" + string(record.<field>), it saves making each key a second time.
type PrefixedFieldLister interface {
	PrefixedFieldValues(ctx context.Context, field, prefix, after string) iter.Seq2[string, error]
}

// KeyDigest summarises a set of external keys, for full key reconciliation to recognise
// two equal key sets without listing them: the number of keys and a digest of them under
// the digest seeds. Two KeyDigests say the sets are equal only when Method, Keys and
// Digest are all equal; anything else (other methods, other servers' hash functions) only
// means the keys must be listed and merged.
type KeyDigest struct {
	// Method names how Digest was made; digests of different methods never compare equal.
	Method string
	// Keys is the number of keys.
	Keys int64
	// Digest is the digest of the keys, in Method's text form.
	Digest string
}

// Equal reports whether d and o describe equal key sets by the same method.
func (d KeyDigest) Equal(o KeyDigest) bool {
	return d.Method != "" && d == o
}

// KeyDigester is an optional capability of a KeyLister: the KeyDigest of exactly the keys
// Keys(ctx, "") lists, under seeds (chosen by the caller for each reconciliation, so that a
// set of keys that collides under one pair of seeds does not collide again).
type KeyDigester interface {
	KeyDigest(ctx context.Context, seeds [2]int64) (KeyDigest, error)
}

// FieldDigester is an optional capability of a FieldLister: the KeyDigest of the values
// PrefixedFieldValues(ctx, field, prefix, "") would list (prefix + each value), under seeds.
type FieldDigester interface {
	FieldDigest(ctx context.Context, field, prefix string, seeds [2]int64) (KeyDigest, error)
}

// KeyDelete is a record known by its external key only, deleted at At.
type KeyDelete struct {
	Key string
	// At is when the record was deleted (a tombstone's time; the run's start for a key
	// absent from the source).
	At time.Time
}

// KeyDeleter is an optional Sink capability: act on records known by their key only (a
// tombstone, or a key the source no longer holds) according to the sink's delete mode:
// Delete removes the record unless it holds a source version newer than At; SoftDelete
// sets the soft-delete field to At on a record not already marked, leaving its other
// fields alone; Ignore does nothing (Unchanged). One Result per entry, in order: Written
// when the record was removed or marked, Unchanged when there was nothing to do (no such
// record, already marked), Stale when it holds a newer version. A non-nil error means
// nothing is confirmed.
type KeyDeleter interface {
	DeleteKeys(ctx context.Context, dels []KeyDelete) ([]Result, error)
}

// Tombstone is a record the source reports deleted.
type Tombstone struct {
	// ID of the deleted record.
	ID string
	// DeletedAt is when it was deleted.
	DeletedAt time.Time
}

// TombstoneLister lists the records a source deleted at or after since (a "deleted since"
// endpoint), each at most once per listing, in any order.
type TombstoneLister interface {
	DeletedSince(ctx context.Context, since time.Time) iter.Seq2[Tombstone, error]
}

// Lookup says how a Resolver finds a sink object by a value (a mapping entry's lookup).
type Lookup struct {
	// URL is a template holding "{value}", replaced by the value (escaped), whose answer
	// lists the objects holding the value.
	URL string
	// ResultsPath is the dot-separated JSON path of the objects in the answer; "" is the
	// body itself.
	ResultsPath string
	// IDPath is the dot-separated JSON path of an object's id, the value resolved.
	IDPath string
}

// Validate reports the first field of the lookup that cannot work, by name.
func (l Lookup) Validate() error {
	if !strings.Contains(l.URL, "{value}") {
		return errors.New(`url must hold "{value}"`)
	}
	if l.IDPath == "" {
		return errors.New("idPath must be set")
	}
	return nil
}

// Resolver is an optional Sink capability: find a sink object by a value, for mapping
// entries with a lookup. It reports the object's id, or found false when no object holds
// the value. An error means the answer is unknown (the API failed, or
// the value is ambiguous); the mapping turns it into a record error. Implementations cache
// answers for the run and are safe for concurrent use.
type Resolver interface {
	Resolve(ctx context.Context, lookup Lookup, value string) (id string, found bool, err error)
}

// WriteRecord is one mapped record to upsert.
type WriteRecord struct {
	// Key is the external key.
	Key string
	// SourceID is the source record's id (for results and audit).
	SourceID string
	// SourceUpdatedAt is stored with the record; a write older than the stored one is stale.
	SourceUpdatedAt time.Time
	// Values are the mapped fields by sink field name, typed by the mapping: nil, string,
	// int64, Decimal, bool, time.Time (UTC) or JSON.
	Values map[string]any
	// Deleted marks a record whose source record was deleted (deletes handling).
	Deleted bool
	// Hash is the record's content hash in Snapshot mode (key, values and Deleted in a
	// canonical typed encoding), stored by a HashReader sink next to the record; "" in
	// Incremental mode, where a sink stores no hash.
	Hash string
}

// Outcome is what the sink did with one record.
type Outcome int

// Outcomes of one write.
const (
	// Written: inserted or updated, and confirmed durable.
	Written Outcome = iota
	// Unchanged: the sink already held these values; nothing was rewritten.
	Unchanged
	// Stale: the sink holds a newer source version; the write was refused.
	Stale
	// Failed: the sink rejected this record (see Result.Err); the others are unaffected.
	Failed
	// SameVersion: not written, because the sink already holds this record's source
	// version (a VersionReader's answer, for a record re-read inside the safety gap). Its
	// values were not compared: a sink row edited by hand is the drift check's to report.
	// Never an Upsert result.
	SameVersion
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Written:
		return "written"
	case Unchanged:
		return "unchanged"
	case Stale:
		return "stale"
	case Failed:
		return "failed"
	case SameVersion:
		return "same version"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is the sink's answer for one record of a batch.
type Result struct {
	Outcome Outcome
	// Err explains a Failed outcome (the sink's message).
	Err error
}

// Sink writes records idempotently by external key.
type Sink interface {
	// Upsert writes the batch and returns one Result per record, in order. A nil error
	// means every Written/Unchanged/Stale result is committed and durable, or, for a
	// Flusher, durable once its next Flush returns nil. A non-nil error means the batch as
	// a whole is not confirmed (connection lost, 5xx after retries): the caller must not
	// treat any of it as written.
	Upsert(ctx context.Context, batch []WriteRecord) ([]Result, error)
	// Close releases the sink's resources.
	Close() error
}

// Flusher is a Sink that may confirm a write before it is durable, to save a disk flush
// per batch (PostgreSQL: each page commits asynchronously). Flush makes every write
// confirmed before it durable; nil means a crash can no longer undo them. The engine
// calls it before it stores a checkpoint, so the stored cursor never counts a write a
// crash could undo. It costs nothing when nothing was confirmed since the last Flush.
type Flusher interface {
	Flush(ctx context.Context) error
}

// RecordError is a problem with one record: it did not map, did not validate, or the sink
// rejected it. It names the record and the field.
type RecordError struct {
	// ID of the source record.
	ID string
	// Field (sink field or mapping target) at fault, if known.
	Field string
	// Reason in a few words, stable enough to group by ("not a decimal").
	Reason string
	// Detail adds the specifics (the offending value, the API's message).
	Detail string
}

// Error renders the record error.
func (e *RecordError) Error() string {
	msg := fmt.Sprintf("record %s", e.ID)
	if e.Field != "" {
		msg += fmt.Sprintf(" field %s", e.Field)
	}
	msg += ": " + e.Reason
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// ErrRateLimited marks a failure caused by exhausting the retry budget on 429 answers.
var ErrRateLimited = errors.New("rate limited")

// HashScanner is an optional Source capability, used by Snapshot mode for a key computed
// from the id alone: ScanPage's pages as ids and digests, so that records equal to what
// the sink stores are neither decoded nor mapped. The digest is taken over the record as
// the source read it (its columns' bytes and types), seeded: equal digests under the same
// seed, from the same source build, mean equal records. A page decodes a record in full
// from the very bytes its digest was taken of, so that the digest written with a record
// is always that record's.
type HashScanner interface {
	// ScanHashed returns at most limit records whose id is strictly after afterID ("" is
	// before every id), ascending by id in ScanPage's order, each as its id and digest.
	// Calls continuing where the last one ended may read on in the same statement.
	ScanHashed(ctx context.Context, afterID string, limit int, seed string) (HashedPage, error)
	// EndScan releases what ScanHashed keeps between calls (an open statement). The
	// caller calls it once no ScanHashed call is running and no further one follows.
	EndScan()
}

// HashedPage is a page of a HashScanner.
type HashedPage struct {
	// IDs of the records, ascending.
	IDs []string
	// Sums are the records' digests, by index.
	Sums [][16]byte
	// More is false when nothing follows the page; a page saying More may be followed by
	// an empty one.
	More bool
	// Record decodes record i in full (as ScanPage gives it). It may be called from any one
	// goroutine, at any time after ScanHashed returned, until Release.
	Record func(i int) (Record, error)
	// Release, when set, hands the page's memory back to the source for a later page: the
	// caller calls it at most once, when it calls Record no more and reads IDs and Sums no
	// more (the id strings read, and the records Record returned, stay valid).
	Release func()
}

// HashStreamer is an optional capability of a HashReader, used by Snapshot mode: every
// stored key that has a hash, with that hash, in one streamed read, in the order the sink
// keeps them (for a table, its physical order, which mostly follows the order records
// were written in). The engine matches them with the keys of its pages in a bounded window
// and asks StoredHashes for the keys it did not meet there; what the stream yields must
// equal what StoredHashes answers. The sequence ends at the first error, yielded with it.
// The pairs come in runs (KeyHashRun), whose memory the sequence reuses: a run and the
// bytes it holds are valid until the next iteration only.
type HashStreamer interface {
	StreamHashes(ctx context.Context) iter.Seq2[KeyHashRun, error]
}

// KeyHashRun is a run of stored keys with their hashes, in one buffer: pair i's key is
// Buf[Ends[2i-1]:Ends[2i]] (the first starts at 0) and its hash Buf[Ends[2i]:Ends[2i+1]].
type KeyHashRun struct {
	Buf  []byte
	Ends []int32
}

// Len is the number of pairs in the run.
func (r KeyHashRun) Len() int { return len(r.Ends) / 2 }

// At returns pair i's key and hash, which share the run's memory.
func (r KeyHashRun) At(i int) (key, hash []byte) {
	start := int32(0)
	if i > 0 {
		start = r.Ends[2*i-1]
	}
	return r.Buf[start:r.Ends[2*i]], r.Buf[r.Ends[2*i]:r.Ends[2*i+1]]
}

// Append adds a copy of a key and its hash at the run's end, growing its slices.
func (r *KeyHashRun) Append(key, hash []byte) {
	r.Buf = append(r.Buf, key...)
	r.Ends = append(r.Ends, int32(len(r.Buf)))
	r.Buf = append(r.Buf, hash...)
	r.Ends = append(r.Ends, int32(len(r.Buf)))
}

// Reset empties the run, keeping its memory.
func (r *KeyHashRun) Reset() { r.Buf, r.Ends = r.Buf[:0], r.Ends[:0] }
