package postgres

import (
	"context"
	"fmt"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// HasAfter reports whether any row follows `after` (connector.AfterProber): ReadPage's
// query for one row, one probe of the (updated_at, id) index keyset paging uses.
func (s *Source) HasAfter(ctx context.Context, after cursor.Cursor) (bool, error) {
	if s.scanOnly {
		return false, fmt.Errorf("probe after %s in %q: the source is read only by id (Snapshot mode)", after, s.rel.name)
	}
	page, err := s.readPage(ctx, after, 1)
	if err != nil {
		return false, fmt.Errorf("probe after %s in %q: %w", after, s.rel.name, err)
	}
	more := len(page.Records) > 0
	s.Recycle(page.Records)
	return more, nil
}

var _ connector.AfterProber = (*Source)(nil)
