package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// ScanVersions returns at most limit records strictly after `after` (at or after its time
// when its id is empty) and at or before until, read as ReadPage reads them (the same
// order, the same cursor times, a skipped-wall-time gap's rows by id) but selecting only
// the id, the updated_at column and those of fields the table has: with an index on
// (updated_at, id) (and the fields), an index-only scan.
func (s *Source) ScanVersions(ctx context.Context, after, until cursor.Cursor, fields []string, limit int) (connector.Page, error) {
	if limit <= 0 {
		return connector.Page{}, fmt.Errorf("scan versions after %s: limit %d must be positive", after, limit)
	}
	if s.scanOnly {
		return connector.Page{}, fmt.Errorf("scan versions after %s from %q: the source is read only by id (Snapshot mode)", after, s.rel.name)
	}
	if cursor.Compare(after, until, s.CompareIDs) >= 0 {
		return connector.Page{}, nil
	}
	v := s.versionSource(fields)
	page, err := v.readPage(ctx, after, limit)
	if err != nil {
		return connector.Page{}, fmt.Errorf("scan versions after %s from %q: %w", after, s.rel.name, err)
	}
	for i, rec := range page.Records {
		if cursor.Compare(rec.Cursor(), until, s.CompareIDs) > 0 {
			return connector.Page{Records: page.Records[:i]}, nil
		}
	}
	return page, nil
}

// versionSource is the source reading only the id, the updated_at column and fields, built
// once per field list.
func (s *Source) versionSource(fields []string) *Source {
	key := strings.Join(fields, "\x00")
	if v, ok := s.versions.Load(key); ok {
		return v.(*Source)
	}
	idCol, updCol := s.cols[s.idIdx].name, s.cols[s.updIdx].name
	rel := *s.rel
	rel.order = nil
	for _, name := range s.rel.order {
		if name == idCol || name == updCol || slices.Contains(fields, name) {
			rel.order = append(rel.order, name)
		}
	}
	v := &Source{pool: s.pool, log: s.log, rel: &rel, ids: s.ids, loc: s.loc, zone: s.zone, pageBytes: s.pageBytes, bin: s.bin}
	cfg := SourceConfig{IDColumn: idCol, UpdatedAtColumn: updCol}
	sel := v.selectList(cfg)
	idOrder := quote(idCol)
	if s.ids == idText {
		idOrder += ` COLLATE "C"`
	}
	v.setKeysetQueries(sel.String(), updCol, idCol, idOrder)
	got, _ := s.versions.LoadOrStore(key, v)
	return got.(*Source)
}

var _ connector.VersionScanner = (*Source)(nil)
