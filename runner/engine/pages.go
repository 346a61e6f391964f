package engine

import (
	"context"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// pageResult is one page read ahead, and mapped.
type pageResult struct {
	after cursor.Cursor
	page  connector.Page
	err   error
	limit int   // the size the page was read with
	bytes int64 // its records' column data, estimated before their Fields were released (pagesize.go)
	// checked: the Mapper's page check ran on the whole page as read, with result
	// checkErr (pagecheck.go), before the page's Fields were handed back.
	checked  bool
	checkErr error
	// mapped holds the mapping of each of page.Records, by index. It is only data: the
	// writer records a mapping error, in order, when it processes that record, and
	// ignores the mappings of records it does not process (a halt before them, records
	// past a backfill's range, records already seen in an unsorted run).
	mapped mapResults
}

// mapResults are the mappings of a page's records: w[i] and err[i] are what Map returned
// for record i (err is nil when no record failed).
type mapResults struct {
	w   []connector.WriteRecord
	err []error
	// held marks the records a Snapshot run found unchanged before mapping them
	// (snapshot_rowhash.go): w[i] holds only their key and hash. nil: none.
	held []bool
}

// slice returns the mappings of records [lo, hi).
func (m mapResults) slice(lo, hi int) mapResults {
	out := mapResults{w: m.w[lo:hi]}
	if m.err != nil {
		out.err = m.err[lo:hi]
	}
	if m.held != nil {
		out.held = m.held[lo:hi]
	}
	return out
}

// errAt returns the mapping error of record i.
func (m mapResults) errAt(i int) error {
	if m.err == nil {
		return nil
	}
	return m.err[i]
}

// readAhead starts reading the page after `after`, and mapping its records, and returns
// the channel its result arrives on. The channel has room for the result, so the reader
// never blocks.
func (r *run) readAhead(ctx context.Context, after cursor.Cursor) chan pageResult {
	ch := make(chan pageResult, 1)
	spare := r.spareW // the mappings' slice of a page written before (recycleValues)
	r.spareW = nil
	spareRecs := r.spareRecs // the records' slice of a page of digests written before (recycle)
	r.spareRecs = nil
	limit := r.pageSize // pagesize.go
	go func() {
		if r.rows != nil && r.scan != nil && r.scan.hashed != nil { // Snapshot by digests (snapshot_digest.go)
			if !r.rows.changing.Load() {
				r.startWindow(ctx) // the stored hashes are read while the page is
			}
			p, hp, err := r.scan.readHashed(ctx, after, limit, spareRecs)
			pr := pageResult{after: after, page: p, err: err, limit: limit}
			if err == nil {
				pr.mapped, pr.err = r.digestPage(ctx, p.Records, hp, spare)
				if hp.Release != nil { // the records decoded and the hashes taken: the page's memory goes back
					hp.Release()
				}
			}
			if pr.err == nil && r.cfg.Range == nil { // as below: checked, then Fields handed back
				pr.checked, pr.checkErr = true, r.pageError(p.Records)
				r.releaseDecoded(p.Records) // snapshot_digest.go
			}
			ch <- pr
			return
		}
		p, err := r.read(ctx, after, limit)
		pr := pageResult{after: after, page: p, err: err, limit: limit}
		if err == nil && r.rows != nil { // Snapshot: unchanged records are not mapped
			pr.mapped = r.hashPage(ctx, p.Records)
		} else if err == nil {
			if cap(spare) >= len(p.Records) {
				pr.mapped.w = spare[:len(p.Records)]
				clear(pr.mapped.w)
			} else {
				pr.mapped.w = make([]connector.WriteRecord, len(p.Records))
			}
			for i, rec := range p.Records {
				w, err := r.mapRecord(rec)
				if err != nil {
					if pr.mapped.err == nil {
						pr.mapped.err = make([]error, len(p.Records))
					}
					pr.mapped.err[i] = err
					continue
				}
				pr.mapped.w[i] = w
			}
			if r.sizes != nil {
				pr.bytes = pageBytes(p.Records) // pagesize.go
			}
			if r.cfg.Range == nil {
				// The main scope writes the whole page (a backfill may cut it at its
				// range's end): its page check can run here, before the records' Fields
				// are handed back.
				pr.checked, pr.checkErr = true, r.pageError(p.Records)
				r.releaseFields(p.Records)
			}
		}
		ch <- pr
	}()
	return ch
}

// recycle hands a page's records back to a source that reuses their Fields maps
// (connector.Recycler), once the page is written: nothing of the run refers to them any
// more (the audit, the failed keys and the order keep ids and cursors, which are strings
// and times). A dry run keeps its records' mappings in the plan, so it hands nothing back.
// The records of a page of digests are kept for the next one instead (spareRecs).
func (r *run) recycle(recs []connector.Record) {
	if r.cfg.DryRun || len(recs) == 0 {
		return
	}
	if r.scan != nil && r.scan.hashed != nil && r.rows != nil && r.cfg.Range == nil {
		// A page of digests: its records hold their ids only (the Fields of those decoded
		// were handed back once mapped, releaseDecoded), and the slice serves a later page
		// of digests (readHashed) rather than the source.
		r.spareRecs = recs
		return
	}
	rc, ok := r.cfg.Source.(connector.Recycler)
	if !ok {
		return
	}
	rc.Recycle(recs)
}

// recycleValues hands the Values maps of a written batch back to a mapper that reuses them
// (ValuesRecycler), when the sink keeps nothing of a batch once Upsert returned
// (connector.BatchReleaser). The batch holds each record's mapping once (writePage moves
// them to the front of the page's mappings, so only the batch, never the whole
// page's slice, is handed back: a moved mapping's old slot still names its map). The
// page's slice of mappings (batch's backing array) is kept for a later page's read-ahead
// (spareW): the one started next is two pages ahead of this one.
func (r *run) recycleValues(batch []connector.WriteRecord) {
	if r.cfg.DryRun {
		return
	}
	if br, ok := r.cfg.Sink.(connector.BatchReleaser); !ok || !br.ReleasesBatches() {
		return
	}
	if vr, ok := r.cfg.Mapper.(ValuesRecycler); ok && len(batch) > 0 {
		vr.RecycleValues(batch)
		for i := range batch {
			batch[i].Values = nil
		}
	}
	r.spareW = batch[:0]
}

// releaseFields hands the Fields maps of a page's records back to a source that takes them
// back once they are mapped (connector.FieldsRecycler), so that a page waiting to be
// written holds its mappings but no longer its source values. A dry run hands nothing
// back.
func (r *run) releaseFields(recs []connector.Record) {
	if fr, ok := r.cfg.Source.(connector.FieldsRecycler); ok && !r.cfg.DryRun && len(recs) > 0 {
		fr.RecycleFields(recs)
	}
}
