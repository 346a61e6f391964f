package engine

import (
	"fmt"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// PageChecker is an optional Mapper capability: it refuses a page the mapping cannot map
// faithfully as a whole (a from path on none of its records: a typo, or a source that
// stopped sending the field), before anything of the page is written.
type PageChecker interface {
	CheckPage([]connector.Record) error
}

// checkPage runs the Mapper's page check on the records about to be written, unless the
// read-ahead already checked the whole page (checked, with its result checkErr: see
// readAhead). A refused page fails the run with MappingPathMissing; nothing of it is
// written and the cursor stays before it. It reports whether the run goes on.
func (r *run) checkPage(after cursor.Cursor, recs []connector.Record, checked bool, checkErr error) bool {
	err := checkErr
	if !checked {
		err = r.pageError(recs)
	}
	if err != nil {
		r.fail(runcontract.ReasonMappingPathMissing, fmt.Sprintf("page after %s: %v; the page was not written", after, err), err)
		return false
	}
	return true
}

// pageError is the Mapper's page check of recs (PageChecker); nil when it has none.
func (r *run) pageError(recs []connector.Record) error {
	pc, ok := r.cfg.Mapper.(PageChecker)
	if !ok || len(recs) == 0 {
		return nil
	}
	if r.scan != nil && r.scan.hashed != nil {
		// A Snapshot page of digests (snapshot_digest.go): the held records were not
		// decoded; each equals a record mapped and written before under the same
		// fingerprint. The decoded ones are checked.
		if recs = decodedOnly(recs); len(recs) == 0 {
			return nil
		}
	}
	return pc.CheckPage(recs)
}
