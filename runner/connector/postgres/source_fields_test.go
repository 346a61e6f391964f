package postgres

import (
	"context"
	"maps"
	"slices"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestSourceReadsOnlyTheFieldsNamed: with SourceOptions.Fields, the source reads only the
// columns named, besides the id, updated_at and deleted-marker columns, in every read
// (ReadPage, ScanPage, FetchByIDs, ScanHashed); Columns still lists the whole table. A
// change to a column nothing reads leaves a row's digest as it was; a change to one read
// changes it. Fields unset, or not ok, reads every column.
func TestSourceReadsOnlyTheFieldsNamed(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE invoices (id bigint PRIMARY KEY, status text, note text, total numeric, removed boolean, updated_at timestamptz NOT NULL)`,
		`INSERT INTO invoices SELECT g, 'open', repeat('n', 200), g * 1.5, false, '2026-06-30 12:00:00+00' FROM generate_series(1, 5) g`)
	keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
	statusOnly := func() ([]string, bool) { return []string{"status", "missing_column"}, true }

	g := NewWithT(t)
	cfg := SourceConfig{Table: "invoices", UpdatedAtColumn: "updated_at", IDColumn: "id", DeletedColumn: "removed"}
	src, err := NewSource(ctx, cfg, dsn, SourceOptions{Fields: statusOnly})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	_, cols := src.Columns()
	g.Expect(cols).To(Equal([]string{"id", "status", "note", "total", "removed", "updated_at"}), "Columns lists the whole table")
	page, err := src.ReadPage(ctx, cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(page.Records).To(HaveLen(5))
	g.Expect(keys(page.Records[0].Fields)).To(Equal([]string{"id", "removed", "status", "updated_at"}))
	fetched, err := src.FetchByIDs(ctx, []string{"3"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fetched).To(HaveLen(1))
	g.Expect(keys(fetched[0].Fields)).To(Equal([]string{"id", "removed", "status", "updated_at"}))

	// Fields not ok, or unset: every column.
	for _, opts := range []SourceOptions{{Fields: func() ([]string, bool) { return []string{"status"}, false }}, {}} {
		all, err := NewSource(ctx, cfg, dsn, opts)
		g.Expect(err).NotTo(HaveOccurred())
		page, err := all.ReadPage(ctx, cursor.Beginning, 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(keys(page.Records[0].Fields)).To(Equal([]string{"id", "note", "removed", "status", "total", "updated_at"}))
		g.Expect(all.Close()).To(Succeed())
	}

	// Snapshot mode: the scan and the digests read the named columns only.
	scfg := SourceConfig{Table: "invoices", IDColumn: "id", ScanOnly: true}
	digests := func() [][16]byte {
		s, err := NewSource(ctx, scfg, dsn, SourceOptions{Fields: statusOnly})
		g.Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		scan, err := s.ScanPage(ctx, "", 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(keys(scan.Records[0].Fields)).To(Equal([]string{"id", "status"}))
		hp, err := s.ScanHashed(ctx, "", 10, "seed")
		g.Expect(err).NotTo(HaveOccurred())
		defer s.EndScan()
		rec, err := hp.Record(0)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(keys(rec.Fields)).To(Equal([]string{"id", "status"}))
		return slices.Clone(hp.Sums)
	}
	before := digests()
	g.Expect(before).To(HaveLen(5))
	_, err = src.pool.Exec(ctx, `UPDATE invoices SET note = 'changed', total = 0, updated_at = now() WHERE id = 2`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(digests()).To(Equal(before), "columns nothing reads do not change a digest")
	_, err = src.pool.Exec(ctx, `UPDATE invoices SET status = 'paid' WHERE id = 2`)
	g.Expect(err).NotTo(HaveOccurred())
	after := digests()
	g.Expect(after[1]).NotTo(Equal(before[1]), "a column read does")
	g.Expect(slices.Delete(slices.Clone(after), 1, 2)).To(Equal(slices.Delete(slices.Clone(before), 1, 2)))
}
