package postgres

import (
	"slices"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Columns returns the table as the spec names it and its columns in table order: the
// fields of every record the source reads (connector.Columns).
func (s *Source) Columns() (string, []string) {
	return s.rel.name, slices.Clone(s.rel.order)
}

var _ connector.Columns = (*Source)(nil)
