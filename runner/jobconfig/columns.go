package jobconfig

import (
	"fmt"

	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// checkColumns refuses, before anything is read, a mapping that reads a field the source
// does not have, when the source knows its records' fields (connector.Columns: a
// PostgreSQL table's columns). Sources that do not (HTTP APIs) are checked page by page
// by the engine instead (mapping.CheckPage).
func checkColumns(src connector.Source, m *mapping.Mapping) error {
	c, ok := src.(connector.Columns)
	if !ok {
		return nil
	}
	table, columns := c.Columns()
	if err := m.CheckColumns(table, columns); err != nil {
		return fmt.Errorf("spec.%w", err)
	}
	return nil
}
