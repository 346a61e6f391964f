package postgres

import (
	"errors"
	"fmt"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// SourceConfig says what a Source reads. Every field is taken as given: the connector
// applies no defaults (the caller translates an already defaulted SyncJob).
type SourceConfig struct {
	// Table is the table or view to read, "table" or "schema.table", case-sensitive.
	Table string
	// UpdatedAtColumn is the cursor's time column: timestamptz, or timestamp when TimeZone
	// is set. Required, unless ScanOnly (then it must be empty).
	UpdatedAtColumn string
	// ScanOnly makes a source read only by id (connector.Scanner, Snapshot mode): there
	// is no cursor time column, records carry a zero UpdatedAt, ReadPage and CountWindow
	// fail, FetchByIDs and ScanPage return records ascending by id.
	ScanOnly bool
	// IDColumn is the cursor's tie-breaker: a unique, not-null integer, text, varchar or
	// uuid column. Required.
	IDColumn string
	// TimeZone is the IANA zone in which the table's timestamp-without-time-zone columns
	// (the UpdatedAtColumn or any other) are written; every such column is read in it.
	// Required when the table has such a column, refused when it has none.
	TimeZone string
	// DeletedColumn, if not empty, is the column whose non-null value (other than false)
	// marks a row deleted (spec.deletes.sourceField, when deletions are propagated): the
	// drift check's count (CountWindow) leaves such rows out, as the sink no longer holds
	// them as live records.
	DeletedColumn string
}

// Validate reports the first field that cannot be right whatever the table holds.
func (c SourceConfig) Validate() error {
	if _, err := tableName(c.Table); err != nil {
		return err
	}
	switch {
	case c.ScanOnly && c.UpdatedAtColumn != "":
		return errors.New("updated_at column (spec.source.postgres.updatedAtColumn) is set for a source read only by id (Snapshot mode)")
	case !c.ScanOnly && c.UpdatedAtColumn == "":
		return errors.New("updated_at column (spec.source.postgres.updatedAtColumn) is empty")
	}
	if c.IDColumn == "" {
		return errors.New("id column (spec.source.postgres.idColumn) is empty")
	}
	return nil
}

// DeleteMode decides what the sink does with a WriteRecord whose Deleted is set.
type DeleteMode string

// Delete modes, spelled as spec.deletes.mode spells them.
const (
	// DeleteIgnore leaves the row alone and reports the record Unchanged.
	DeleteIgnore DeleteMode = "Ignore"
	// DeleteSoft upserts the record and sets SinkConfig.DeleteColumn to its
	// SourceUpdatedAt; records not deleted set that column to NULL.
	DeleteSoft DeleteMode = "SoftDelete"
	// DeleteHard deletes the row by key, unless the row holds a newer source version
	// (then the record is Stale).
	DeleteHard DeleteMode = "Delete"
)

// SinkConfig says where and how a Sink writes. Every field is taken as given: the
// connector applies no defaults (the caller translates an already defaulted SyncJob).
type SinkConfig struct {
	// Table is the table to write, "table" or "schema.table", case-sensitive.
	Table string
	// KeyColumn holds WriteRecord.Key: a text or varchar column with a unique index on
	// exactly that column. Required.
	KeyColumn string
	// Fields are the columns written from WriteRecord.Values (the mapping targets, in
	// mapping order). KeyColumn, if listed, is ignored here; a field missing from a
	// record's Values is written as NULL; Values not listed are ignored.
	Fields []string
	// FieldTypes are the mapped types of Fields, by field. A column that can hold no value
	// of its field's type is a setup error; a field without a type is checked value by
	// value only.
	FieldTypes map[string]connector.FieldType
	// SourceUpdatedAtColumn is the timestamptz column storing each record's
	// SourceUpdatedAt; a write older than the stored one is Stale. Required, unless
	// Unversioned (then it is not used).
	SourceUpdatedAtColumn string
	// Unversioned says records carry no source version (Snapshot mode): the
	// SourceUpdatedAtColumn is neither read nor written, no write is Stale (the stale
	// guard is off), CountWindow fails, and under DeleteSoft the DeleteColumn is set to
	// the time of the write (SinkOptions.Clock) instead of the source version. Requires
	// HashColumn.
	Unversioned bool
	// HashColumn, if not empty, is a text or varchar column storing WriteRecord.Hash on
	// every written row, read back by StoredHashes (Snapshot mode). The column must exist:
	// setup names the ALTER TABLE to run when it does not.
	HashColumn string
	// SyncedAtColumn, if not empty, is a timestamptz or timestamp column set to the write
	// time of each written row.
	SyncedAtColumn string
	// RunIDColumn, if not empty, is a text or varchar column set to SinkOptions.RunID on
	// each written row.
	RunIDColumn string
	// CopyThreshold is the batch size from which upserts go through COPY into a temporary
	// table and one merge statement instead of one multi-row INSERT. At least 1.
	CopyThreshold int
	// DeleteMode decides what a deleted record does. Required.
	DeleteMode DeleteMode
	// DeleteColumn is the timestamptz or timestamp column set under DeleteSoft. Required
	// under DeleteSoft, unused otherwise.
	DeleteColumn string
}

// Validate reports the first field that cannot be right whatever the table holds.
func (c SinkConfig) Validate() error {
	if _, err := tableName(c.Table); err != nil {
		return err
	}
	if c.KeyColumn == "" {
		return errors.New("key field (spec.key.field) is empty")
	}
	if c.SourceUpdatedAtColumn == "" && !c.Unversioned {
		return errors.New("source updated-at column (spec.sink.postgres.sourceUpdatedAtColumn) is empty")
	}
	if c.Unversioned && c.HashColumn == "" {
		return errors.New("hash column (spec.sink.postgres.hashColumn) is empty, required by a sink without source versions (spec.cursor.mode Snapshot)")
	}
	if c.CopyThreshold < 1 {
		return fmt.Errorf("copy threshold (spec.sink.postgres.copyThreshold) %d: want at least 1", c.CopyThreshold)
	}
	for f, t := range c.FieldTypes {
		switch t {
		case connector.TypeString, connector.TypeInt, connector.TypeDecimal, connector.TypeBool, connector.TypeTimestamp, connector.TypeJSON:
		default:
			return fmt.Errorf("field %q: type %q (spec.mapping[].type): want string, int, decimal, bool, timestamp or json", f, string(t))
		}
	}
	switch c.DeleteMode {
	case DeleteIgnore, DeleteHard:
	case DeleteSoft:
		if c.DeleteColumn == "" {
			return errors.New("soft-delete column (spec.deletes.sinkField) is empty, required by delete mode SoftDelete")
		}
	case "":
		return errors.New("delete mode (spec.deletes.mode) is empty: want Ignore, SoftDelete or Delete")
	default:
		return fmt.Errorf("delete mode %q (spec.deletes.mode): want Ignore, SoftDelete or Delete", string(c.DeleteMode))
	}
	return nil
}
