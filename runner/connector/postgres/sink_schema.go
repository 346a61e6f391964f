package postgres

import (
	"context"
	"fmt"
)

// family is how a value column is checked and staged.
type family int

const (
	famText   family = iota // staged as text and cast: numeric, uuid, enums, everything else
	famString               // text, varchar, char: any value in its text form
	famInt                  // smallint, integer, bigint: int64
	famFloat                // real, double precision: float64 or int64
	famBool                 // boolean: bool
	famTime                 // timestamptz, timestamp, date: time.Time
	famJSON                 // json, jsonb: connector.JSON
)

// sinkColumn is one value column.
type sinkColumn struct {
	col    column
	fam    family
	lim    limits
	field  string // key in WriteRecord.Values; "" for the soft-delete column
	softDl bool   // the soft-delete column
	hash   bool   // the hash column (WriteRecord.Hash)
}

// setup inspects the table, checks every configured column's type and role, and builds
// the statements.
func (s *Sink) setup(ctx context.Context, cfg SinkConfig) error {
	rel, err := inspect(ctx, s.pool, cfg.Table)
	if err != nil {
		return err
	}
	s.rel = rel
	if rel.kind != 'r' && rel.kind != 'p' {
		return fmt.Errorf("sink table %q is not a table (relkind %c)", cfg.Table, rel.kind)
	}
	key, err := rel.column(cfg.KeyColumn, "key (spec.key.field)")
	if err != nil {
		return err
	}
	if key.category != 'S' {
		return fmt.Errorf("key column %q of table %q is %s, want text or varchar", key.name, cfg.Table, key.full)
	}
	var attnum int16
	var unique bool
	err = s.pool.QueryRow(ctx, `
SELECT a.attnum, EXISTS (
  SELECT 1 FROM pg_index i
  WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
    AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum)
FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2`, rel.oid, key.name).Scan(&attnum, &unique)
	if err != nil {
		return fmt.Errorf("look up unique index on key column %q of table %q: %w", key.name, cfg.Table, err)
	}
	if !unique {
		return fmt.Errorf("key column %q of table %q has no unique index on exactly that column (needed by ON CONFLICT): CREATE UNIQUE INDEX ON %s (%s)", key.name, cfg.Table, rel.ident.Sanitize(), quote(key.name))
	}
	used := map[string]string{key.name: "key"}
	var sua column
	if !cfg.Unversioned {
		suaName := cfg.SourceUpdatedAtColumn
		sua, err = rel.column(suaName, "source updated-at (spec.sink.postgres.sourceUpdatedAtColumn)")
		if err != nil {
			return err
		}
		if sua.oid != oidTimestamptz {
			return fmt.Errorf("source updated-at column %q of table %q is %s, want timestamptz", suaName, cfg.Table, sua.full)
		}
		used[sua.name] = "source updated-at"
	}
	s.unversioned = cfg.Unversioned
	claim := func(name, role string) error {
		if other, ok := used[name]; ok {
			return fmt.Errorf("column %q of table %q is used both as %s and as %s", name, cfg.Table, other, role)
		}
		used[name] = role
		return nil
	}
	for _, f := range cfg.Fields {
		if f == key.name {
			continue
		}
		c, err := rel.column(f, "mapped field")
		if err != nil {
			return err
		}
		if err := claim(f, "mapped field"); err != nil {
			return err
		}
		if t, ok := cfg.FieldTypes[f]; ok && !canHold(c, t) {
			return fmt.Errorf("field %q is mapped as %s, but column %q of table %q is %s, which can never hold %s %s", f, t, c.name, cfg.Table, c.full, article(t), t)
		}
		s.vals = append(s.vals, sinkColumn{col: c, fam: familyOf(c), lim: limitsOf(c), field: f})
	}
	if s.deleteMode == DeleteSoft {
		name := cfg.DeleteColumn
		c, err := rel.column(name, "soft-delete (spec.deletes.sinkField)")
		if err != nil {
			return err
		}
		if familyOf(c) != famTime || c.oid == oidDate {
			return fmt.Errorf("soft-delete column %q of table %q is %s, want timestamptz or timestamp", name, cfg.Table, c.full)
		}
		if err := claim(name, "soft-delete column"); err != nil {
			return err
		}
		s.vals = append(s.vals, sinkColumn{col: c, fam: famTime, softDl: true})
	}
	if cfg.HashColumn != "" {
		if err := s.setupHash(cfg, claim); err != nil {
			return err
		}
	}
	var synced, run column
	if cfg.SyncedAtColumn != "" {
		if synced, err = rel.column(cfg.SyncedAtColumn, "synced-at (spec.sink.postgres.syncedAtColumn)"); err != nil {
			return err
		}
		if synced.oid != oidTimestamptz && synced.oid != oidTimestamp {
			return fmt.Errorf("synced-at column %q of table %q is %s, want timestamptz or timestamp", synced.name, cfg.Table, synced.full)
		}
		if err := claim(synced.name, "synced-at column"); err != nil {
			return err
		}
		s.hasSynced = true
	}
	if cfg.RunIDColumn != "" {
		if run, err = rel.column(cfg.RunIDColumn, "run id (spec.sink.postgres.runIdColumn)"); err != nil {
			return err
		}
		if run.category != 'S' {
			return fmt.Errorf("run id column %q of table %q is %s, want text or varchar", run.name, cfg.Table, run.full)
		}
		if err := claim(run.name, "run id column"); err != nil {
			return err
		}
		s.hasRun = true
	}
	s.buildSQL(key, sua, synced, run)
	s.buildVersionSQL(key, sua)
	byteOrder, err := byteOrdered(ctx, s.pool, rel, key.name)
	if err != nil {
		return fmt.Errorf("look up the collation of key column %q of table %q: %w", key.name, cfg.Table, err)
	}
	s.buildKeySQL(key, sua, byteOrder)
	return nil
}

// hashLen is the length of a content hash (connector.WriteRecord.Hash) in characters.
const hashLen = 32

// setupHash checks the hash column (SinkConfig.HashColumn) and adds it to the columns
// written. A missing column is a setup error naming the DDL that creates it.
func (s *Sink) setupHash(cfg SinkConfig, claim func(name, role string) error) error {
	name := cfg.HashColumn
	c, ok := s.rel.columns[name]
	if !ok {
		return fmt.Errorf("hash column %q (spec.sink.postgres.hashColumn) does not exist in table %q: Snapshot mode stores each record's content hash there; create it with: ALTER TABLE %s ADD COLUMN %s text",
			name, cfg.Table, s.rel.ident.Sanitize(), quote(name))
	}
	if c.category != 'S' || c.oid == oidBPChar {
		return fmt.Errorf("hash column %q of table %q is %s, want text or varchar", name, cfg.Table, c.full)
	}
	if l := limitsOf(c); l.maxLen > 0 && l.maxLen < hashLen {
		return fmt.Errorf("hash column %q of table %q is %s, too short for a hash of %d characters: want text", name, cfg.Table, c.full, hashLen)
	}
	if err := claim(name, "hash column"); err != nil {
		return err
	}
	s.hashCol = c
	s.vals = append(s.vals, sinkColumn{col: c, fam: famString, hash: true})
	s.qHashes = fmt.Sprintf("SELECT %s::text, %s::text FROM %s WHERE %s = ANY($1::text[]) AND %s IS NOT NULL",
		quote(cfg.KeyColumn), quote(name), s.rel.ident.Sanitize(), quote(cfg.KeyColumn), quote(name))
	return nil
}

// familyOf classifies a value column.
func familyOf(c column) family {
	switch c.oid {
	case oidText, oidVarchar, oidBPChar:
		return famString
	case oidInt2, oidInt4, oidInt8:
		return famInt
	case oidFloat4, oidFloat8:
		return famFloat
	case oidBool:
		return famBool
	case oidTimestamptz, oidTimestamp, oidDate:
		return famTime
	case oidJSON, oidJSONB:
		return famJSON
	}
	return famText
}
