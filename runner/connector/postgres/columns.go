package postgres

import (
	"slices"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// Columns returns the table as the spec names it and all its columns in table order: the
// fields a record may carry (connector.Columns), of which it reads only those
// SourceOptions.Fields names, when set.
func (s *Source) Columns() (string, []string) {
	return s.rel.name, slices.Clone(s.rel.order)
}

var _ connector.Columns = (*Source)(nil)
