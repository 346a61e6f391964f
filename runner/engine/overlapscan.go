package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// The overlap's version scan. A main run re-reads the safety gap (from the stored cursor
// minus cursor.safetyGap up to the stored cursor) before it reads on. When the source can
// list the gap's record positions alone (connector.VersionScanner), the sink reads the
// versions it holds (connector.VersionReader, through the overlap's version check,
// overlap.go), the source fetches by id (connector.Fetcher) and the mapping computes a
// record's key from a few named fields (KeyMapper), the gap is not read in full: page by
// page, its positions (and the key's fields) are scanned, each record's key is computed,
// the versions the sink holds for the page's keys are read in one lookup, and a record is
// confirmed SameVersion without being read when the sink holds exactly its version. Only
// the others — a version the sink does not hold, a record waiting in the failed keys, one
// marked deleted, one whose key cannot be computed — are fetched by id, mapped and written
// as the page they belong to, by the same code as the main loop's pages (writePage), so
// that policies, failed keys and the stale guard behave as they do without the scan. A
// fetched record now past the stored cursor (it changed meanwhile) is left to the main
// loop, which then reads strictly after the stored cursor.
//
// The invariant is unchanged: the scan never moves the committed cursor, which is the
// stored one; every record at or before it either was confirmed by an earlier run at the
// version the sink still holds, or is written (or recorded as failed) here as before.

// KeyMapper is an optional Mapper capability, used by the overlap's version scan: the
// external key of a record computed from a few of its top-level fields, exactly as Map
// computes it.
type KeyMapper interface {
	// KeyFields names the top-level source fields the key and the deletion marker are
	// computed from (nil for a key of the record id alone); ok is false when they cannot
	// be named (an expression that reads the record as a whole).
	KeyFields() (fields []string, ok bool)
	// KeyOf returns the external key of rec, which carries at least the fields KeyFields
	// names, and whether the record is marked deleted; an error where Map would fail on
	// the key or the marker.
	KeyOf(rec connector.Record) (key string, deleted bool, err error)
}

// overlapScan is what the version scan needs, found once per run.
type overlapScan struct {
	scanner  connector.VersionScanner
	versions connector.VersionReader
	fetcher  connector.Fetcher
	keys     KeyMapper
	fields   []string
	until    cursor.Cursor // the stored cursor
}

// overlapScanner reports whether the version scan applies: a main run with the overlap's
// version check in place (so: a sink that reads its versions, a stored cursor, no dry
// run, backfill or Snapshot), a sorted source that scans versions and fetches by id, a
// mapping that names its key's fields, and a gap to re-read.
func (r *run) overlapScanner() (overlapScan, bool) {
	vo, ok := r.out.(versionOutput)
	if !ok || r.cfg.Unsorted || r.rewound != nil {
		return overlapScan{}, false
	}
	vs, ok := r.cfg.Source.(connector.VersionScanner)
	if !ok {
		return overlapScan{}, false
	}
	f, ok := r.fetcher()
	if !ok {
		return overlapScan{}, false
	}
	km, ok := r.cfg.Mapper.(KeyMapper)
	if !ok {
		return overlapScan{}, false
	}
	fields, ok := km.KeyFields()
	if !ok || cursor.Compare(r.start, vo.until, r.ids) >= 0 {
		return overlapScan{}, false
	}
	return overlapScan{scanner: vs, versions: vo.versions, fetcher: f, keys: km, fields: fields, until: vo.until}, true
}

// scanOverlap checks the re-read gap by version (see above) and, when it went through,
// makes the main loop start strictly after the stored cursor. The next page of versions is
// scanned while the current one is checked: at most one page ahead.
func (r *run) scanOverlap(ctx context.Context) {
	sc, ok := r.overlapScanner()
	if !ok {
		return
	}
	if r.sameVersionsByDigest(ctx, sc) { // overlapdigest.go
		c := sc.until
		r.scanned = &c
		return
	}
	scanCtx, cancelScan := context.WithCancel(ctx)
	defer cancelScan()
	pending := r.scanAhead(scanCtx, sc, r.start)
	defer func() {
		if pending != nil { // abandon the scan ahead, and wait so no scan outlives the run
			cancelScan()
			<-pending
		}
	}()
	for pending != nil {
		res := <-pending
		pending = nil
		if ctx.Err() != nil {
			r.interrupt(ctx)
			return
		}
		if res.err != nil {
			r.stopOn(ctx, sourceReason(res.err), fmt.Sprintf("source: scan the versions after %s: %v", res.after, res.err), res.err)
			return
		}
		prev := res.after
		for _, rec := range res.page.Records {
			if cursor.Compare(rec.Cursor(), prev, r.ids) <= 0 || cursor.Compare(rec.Cursor(), sc.until, r.ids) > 0 {
				err := fmt.Errorf("scan the versions after %s up to %s: record %s is not after %s or past the end: "+
					"the source is not ascending by (updatedAt, id)", res.after, sc.until, rec.Cursor(), prev)
				r.fail(runcontract.ReasonSourceError, err.Error(), err)
				return
			}
			prev = rec.Cursor()
		}
		if len(res.page.Records) == 0 {
			break
		}
		if res.page.More {
			pending = r.scanAhead(scanCtx, sc, prev)
		}
		r.rec.AddRead(len(res.page.Records))
		if !r.checkVersions(ctx, sc, res.page.Records) {
			return
		}
		// Checked: nothing refers to the scanned positions any more (the outcomes keep ids
		// and keys, which are strings; the records to write were fetched anew), so the
		// source may reuse their maps for the pages scanned or read next.
		r.recycle(res.page.Records) // pages.go
		r.maybeSave(ctx)
		if r.failure != nil {
			return
		}
	}
	c := sc.until
	r.scanned = &c
}

// scanResult is one page of versions scanned ahead.
type scanResult struct {
	after cursor.Cursor
	page  connector.Page
	err   error
}

// scanAhead starts scanning the page of versions after `after` and returns the channel its
// result arrives on (with room for it: the scan never blocks).
func (r *run) scanAhead(ctx context.Context, sc overlapScan, after cursor.Cursor) chan scanResult {
	ch := make(chan scanResult, 1)
	go func() {
		p, err := sc.scanner.ScanVersions(ctx, after, sc.until, sc.fields, r.versionScanLimit())
		ch <- scanResult{after: after, page: p, err: err}
	}()
	return ch
}

// checkVersions confirms the page's records whose version the sink holds as SameVersion,
// and fetches, maps and writes the others as one page. It reports whether the run goes on.
func (r *run) checkVersions(ctx context.Context, sc overlapScan, recs []connector.Record) bool {
	keys := make([]string, len(recs))
	lookup := make([]string, 0, len(recs))
	for i, rec := range recs {
		if r.fk.has(rec.ID) {
			continue // waits for a retry: always written
		}
		key, deleted, err := sc.keys.KeyOf(rec)
		if err != nil || deleted || key == "" {
			continue // read in full: Map decides
		}
		keys[i] = key
		lookup = append(lookup, key)
	}
	held, err := storedVersions(ctx, sc.versions, recs, lookup)
	if err != nil {
		r.stopOn(ctx, sinkReason(err), err.Error(), err)
		return false
	}
	var need []string
	for i, rec := range recs {
		if keys[i] != "" {
			if v, ok := held[keys[i]]; ok && v.Equal(rec.UpdatedAt) {
				r.rec.AddOutcome(rec.ID, keys[i], connector.SameVersion, false)
				r.recent.add(rec.ID)
				continue
			}
		}
		need = append(need, rec.ID)
	}
	// The records to write go as pages of at most the page size, as the main loop's would.
	for len(need) > 0 {
		n := min(len(need), r.cfg.PageSize)
		if !r.writeFetched(ctx, sc.until, sc.fetcher, need[:n]) {
			return false
		}
		need = need[n:]
	}
	return true
}

// versionScanLimit is how many positions the version scan reads a round trip: positions
// (an id, a time and the key's fields) are small beside full records, so a scanned page is
// larger than a page of records (at least versionScanPositions), and a 5-minute gap takes a
// few round trips instead of one per page of records. Each scanned page is still checked
// against the sink's stored versions in one lookup.
func (r *run) versionScanLimit() int {
	if r.cfg.versionScanPage > 0 {
		return r.cfg.versionScanPage
	}
	return max(r.cfg.PageSize, versionScanPositions)
}

// versionScanPositions is the version scan's page of positions (versionScanLimit): about
// 1 MiB of positions held at a time, with the page scanned ahead.
const versionScanPositions = 10_000

// writeFetched fetches the records ids by id and writes those still at or before until as
// one page of the main loop would be (writePage): in the source's order, each mapped, the
// committed prefix's failures kept in the failed keys. The committed cursor does not move:
// every record is at or before it. A record the source no longer has is not written (as a
// re-read would not meet it); one now past until is the main loop's.
func (r *run) writeFetched(ctx context.Context, until cursor.Cursor, f connector.Fetcher, ids []string) bool {
	got, err := f.FetchByIDs(ctx, ids)
	if err != nil {
		r.stopOn(ctx, sourceReason(err), fmt.Sprintf("fetch %d re-read records by id: %v", len(ids), err), err)
		return false
	}
	recs := make([]connector.Record, 0, len(got))
	for _, rec := range got {
		if cursor.Compare(rec.Cursor(), until, r.ids) <= 0 {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return true
	}
	slices.SortStableFunc(recs, func(a, b connector.Record) int { return cursor.Compare(a.Cursor(), b.Cursor(), r.ids) })
	mapped := mapResults{w: make([]connector.WriteRecord, len(recs))}
	for i, rec := range recs {
		w, err := r.mapRecord(rec)
		if err != nil {
			if mapped.err == nil {
				mapped.err = make([]error, len(recs))
			}
			mapped.err[i] = err
			continue
		}
		mapped.w[i] = w
	}
	return r.writePage(ctx, recs, mapped)
}

// readFrom is where the main loop starts: after the stored cursor when the version scan
// went through the gap, else the run's start.
func (r *run) readFrom() cursor.Cursor {
	if r.scanned != nil {
		return *r.scanned
	}
	return r.start
}

// storedVersions reads the versions the sink holds for keys, the keys of (some of) the
// page recs: by the range of the page's versions when the sink reads ranges
// (connector.VersionRangeReader) and the range holds at most twice as many records as the
// page (a large group of records at one time falls back), else by key. Either way a key
// maps to the version the sink holds exactly when that version lies in the page's range,
// which is all the comparison needs.
func storedVersions(ctx context.Context, vr connector.VersionReader, recs []connector.Record, keys []string) (map[string]time.Time, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if rr, ok := vr.(connector.VersionRangeReader); ok {
		from, to := recs[0].UpdatedAt, recs[len(recs)-1].UpdatedAt
		held, complete, err := rr.StoredVersionsBetween(ctx, from, to, 2*len(recs)+pageSlack)
		if err != nil {
			return nil, fmt.Errorf("read the stored source versions in [%s, %s]: %w", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), err)
		}
		if complete {
			return held, nil
		}
	}
	held, err := vr.StoredVersions(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read the stored source versions of %d re-read records: %w", len(keys), err)
	}
	return held, nil
}

// pageSlack is room for a few more records in a range of versions than the page holds (a
// page of one record, the ties at its ends).
const pageSlack = 16
