package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestScanVersionsSharesRecycledMaps: the version scan and ReadPage draw on one store of
// recycled Fields maps: the maps of a page handed back (Recycle) carry the next scan's
// positions, emptied (only the id and the cursor column), and the maps of scanned positions
// handed back carry the next page's full records.
func TestScanVersionsSharesRecycledMaps(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE invoices (id text PRIMARY KEY, customer text, note text, updated_at timestamptz NOT NULL)`,
		`INSERT INTO invoices SELECT 'inv_' || i, 'cus_' || (i % 7), 'n', '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second'
		   FROM generate_series(1, 20) i`)
	src, err := NewSource(ctx, SourceConfig{Table: "invoices", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	ptrs := func(maps []map[string]any) map[uintptr]bool {
		out := map[uintptr]bool{}
		for _, m := range maps {
			out[reflect.ValueOf(m).Pointer()] = true
		}
		return out
	}

	page, err := src.ReadPage(ctx, cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(page.Records).To(HaveLen(10))
	var read []map[string]any
	for _, r := range page.Records {
		read = append(read, r.Fields)
	}
	src.Recycle(page.Records)

	until := cursor.Cursor{UpdatedAt: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	scanned, err := src.ScanVersions(ctx, cursor.Beginning, until, nil, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(scanned.Records).To(HaveLen(10))
	var positions []map[string]any
	for _, r := range scanned.Records {
		g.Expect(r.Fields).To(HaveLen(2), "only the id and the cursor column")
		g.Expect(r.Fields).To(HaveKey("id"))
		g.Expect(r.Fields).To(HaveKey("updated_at"))
		positions = append(positions, r.Fields)
	}
	g.Expect(ptrs(positions)).To(Equal(ptrs(read)), "the scan reuses the maps the page handed back")

	src.Recycle(scanned.Records)
	page, err = src.ReadPage(ctx, cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	var again []map[string]any
	for _, r := range page.Records {
		g.Expect(r.Fields).To(HaveLen(4), "a full record")
		again = append(again, r.Fields)
	}
	g.Expect(ptrs(again)).To(Equal(ptrs(positions)), "ReadPage reuses the maps the scan handed back")
}
