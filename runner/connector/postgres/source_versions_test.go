package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// scanAll pages ScanVersions from after up to until, checking each page's bound and order.
func scanAll(t *testing.T, src *Source, after, until cursor.Cursor, fields []string, limit int) []connector.Record {
	t.Helper()
	g := NewWithT(t)
	var all []connector.Record
	c := after
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 1000), "paging does not end")
		page, err := src.ScanVersions(context.Background(), c, until, fields, limit)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(page.Records)).To(BeNumerically("<=", limit))
		for _, r := range page.Records {
			g.Expect(cursor.Compare(r.Cursor(), c, src.CompareIDs)).To(Equal(1), "record %s is after %s", r.Cursor(), c)
			g.Expect(cursor.Compare(r.Cursor(), until, src.CompareIDs)).To(BeNumerically("<=", 0), "record %s is not past %s", r.Cursor(), until)
			c = r.Cursor()
		}
		all = append(all, page.Records...)
		if !page.More {
			return all
		}
		g.Expect(page.Records).NotTo(BeEmpty(), "a page with More has records")
	}
}

// between keeps the records of all (ReadPage's order) strictly after after and at or before until.
func between(src *Source, all []connector.Record, after, until cursor.Cursor) []connector.Record {
	var out []connector.Record
	for _, r := range all {
		if cursor.Compare(r.Cursor(), after, src.CompareIDs) > 0 && cursor.Compare(r.Cursor(), until, src.CompareIDs) <= 0 {
			out = append(out, r)
		}
	}
	return out
}

// TestScanVersionsIsReadPageWithoutTheFields: the version scan of text ids with a tie group
// larger than a page gives, for any bounds (a rewound cursor without id, a cursor inside
// the tie group) and any page size, exactly the positions ReadPage gives between them, in
// its order (byte order of the ids), with the fields asked for valued as ReadPage values
// them and no other column but the id and the cursor column.
func TestScanVersionsIsReadPageWithoutTheFields(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE invoices (id text PRIMARY KEY, customer text, total numeric(12,2), note text, updated_at timestamptz NOT NULL)`,
		`CREATE INDEX ON invoices (updated_at, id COLLATE "C")`,
		`INSERT INTO invoices SELECT 'inv_' || md5(i::text), 'cus_' || (i % 7), i / 100.0, repeat('x', 100),
		   '2026-01-01 00:00:00+00'::timestamptz + (i / 3) * interval '1 second' FROM generate_series(1, 60) i`,
		`INSERT INTO invoices SELECT 'tie_' || i, 'cus_t', 1.5, NULL, '2026-01-01 00:00:10.5+00' FROM generate_series(1, 12) i`,
		`INSERT INTO invoices VALUES ('B', 'cus_B', 2, NULL, '2026-01-01 00:00:10.5+00'), ('a', 'cus_a', 3, NULL, '2026-01-01 00:00:10.5+00')`)
	src, err := NewSource(ctx, SourceConfig{Table: "invoices", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	all := readAll(t, src, cursor.Beginning, 1000)
	g.Expect(all).To(HaveLen(74))
	tieAt := time.Date(2026, 1, 1, 0, 0, 10, 500_000_000, time.UTC)
	var tie []int
	for i, r := range all {
		if r.UpdatedAt.Equal(tieAt) {
			tie = append(tie, i)
		}
	}
	g.Expect(tie).To(HaveLen(14))
	g.Expect(all[tie[0]].ID).To(Equal("B"), "byte order: upper case first")

	bounds := []struct{ after, until cursor.Cursor }{
		{cursor.Beginning, all[len(all)-1].Cursor()},
		{cursor.Cursor{UpdatedAt: tieAt}, all[tie[5]].Cursor()},                   // a rewound cursor at the tie's time
		{all[tie[3]].Cursor(), all[tie[10]].Cursor()},                             // inside the tie group
		{cursor.Cursor{UpdatedAt: tieAt.Add(-2 * time.Second)}, all[60].Cursor()}, // across it
		{all[tie[13]].Cursor(), all[len(all)-1].Cursor()},
		{all[20].Cursor(), all[20].Cursor()}, // nothing between
	}
	for _, b := range bounds {
		want := between(src, all, b.after, b.until)
		for _, size := range []int{1, 4, 5, 100} {
			got := scanAll(t, src, b.after, b.until, []string{"customer", "missing"}, size)
			g.Expect(got).To(HaveLen(len(want)), "after %s until %s, page %d", b.after, b.until, size)
			for i := range got {
				g.Expect(got[i].Cursor()).To(Equal(want[i].Cursor()))
				g.Expect(got[i].Fields).To(Equal(map[string]any{
					"id": want[i].Fields["id"], "updated_at": want[i].Fields["updated_at"], "customer": want[i].Fields["customer"],
				}))
			}
		}
	}
	// Only the id and the cursor column when no field is asked for.
	page, err := src.ScanVersions(ctx, cursor.Beginning, all[len(all)-1].Cursor(), nil, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(page.More).To(BeTrue())
	g.Expect(page.Records[0].Fields).To(HaveLen(2))
	// The last page ends at until, More false, though the table goes on.
	page, err = src.ScanVersions(ctx, all[9].Cursor(), all[11].Cursor(), nil, 5)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal(ids(all[10:12])))
	g.Expect(page.More).To(BeFalse())
}

// TestScanVersionsInDeclaredZone: a zone-less cursor column is scanned in the declared
// zone as ReadPage reads it: rows whose wall time the zone skips come at the gap's marker,
// by id, whatever the page size and the bounds (inside the gap's rows too); integer ids are
// int64 fields.
func TestScanVersionsInDeclaredZone(t *testing.T) {
	dsn := newDB(t,
		`CREATE TABLE items (id int PRIMARY KEY, modified timestamp NOT NULL)`,
		`INSERT INTO items VALUES
			(1, '2026-03-29 01:59:59.999999'),
			(6, '2026-03-29 02:00:00'),
			(2, '2026-03-29 02:30:00'),
			(3, '2026-03-29 02:15:00'),
			(7, '2026-03-29 02:59:59.999999'),
			(4, '2026-03-29 03:00:00'),
			(5, '2026-03-29 03:30:00'),
			(8, '2026-10-25 02:30:00'),
			(10, '2026-10-25 02:30:00'),
			(9, '2026-10-25 02:30:00')`)
	ctx := context.Background()
	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "modified", IDColumn: "id", TimeZone: "Europe/Berlin"}, dsn, SourceOptions{})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	g := NewWithT(t)
	all := readAll(t, src, cursor.Beginning, 100)
	g.Expect(ids(all)).To(Equal([]string{"1", "2", "3", "6", "7", "4", "5", "8", "9", "10"}))
	bounds := []struct{ after, until cursor.Cursor }{
		{cursor.Beginning, all[9].Cursor()},
		{cursor.Cursor{UpdatedAt: berlinGapEnd.Add(-2 * time.Hour)}, all[6].Cursor()},
		{all[2].Cursor(), all[8].Cursor()},                            // from inside the gap's rows
		{cursor.Cursor{UpdatedAt: all[3].UpdatedAt}, all[3].Cursor()}, // a rewound cursor at the gap's marker
		{all[0].Cursor(), all[1].Cursor()},                            // up to inside the gap's rows
	}
	for _, b := range bounds {
		want := between(src, all, b.after, b.until)
		for _, size := range []int{1, 2, 3, 10} {
			got := scanAll(t, src, b.after, b.until, []string{"id"}, size)
			g.Expect(ids(got)).To(Equal(ids(want)), "after %s until %s, page %d", b.after, b.until, size)
			for i := range got {
				g.Expect(got[i].UpdatedAt).To(Equal(want[i].UpdatedAt))
				g.Expect(got[i].Fields["id"]).To(BeAssignableToTypeOf(int64(0)))
			}
		}
	}
}
