package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// readAll pages through the source from c with the given page size.
func readAll(t *testing.T, src *Source, c cursor.Cursor, limit int) []connector.Record {
	t.Helper()
	g := NewWithT(t)
	var all []connector.Record
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 1000), "paging does not end")
		page, err := src.ReadPage(context.Background(), c, limit)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(page.Records)).To(BeNumerically("<=", limit))
		for i, r := range page.Records {
			g.Expect(cursor.Compare(r.Cursor(), c, src.CompareIDs)).To(Equal(1), "record %d of page %d is after the cursor %s", i, pages, c)
			c = r.Cursor()
		}
		all = append(all, page.Records...)
		if !page.More {
			return all
		}
		g.Expect(page.Records).NotTo(BeEmpty(), "a page with More has records")
	}
}

func ids(recs []connector.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestCursorTiesAcrossPages(t *testing.T) {
	g := NewWithT(t)
	const page = 5
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, name text)`,
		// 3 rows before, a tie group of 4 pages, 3 rows after.
		`INSERT INTO items SELECT i, '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second', 'before' FROM generate_series(1, 3) i`,
		fmt.Sprintf(`INSERT INTO items SELECT i, '2026-01-01 01:00:00.000001+00', 'tie' FROM generate_series(100, %d) i`, 100+4*page-1),
		`INSERT INTO items SELECT i, '2026-01-01 02:00:00+00'::timestamptz + i * interval '1 microsecond', 'after' FROM generate_series(7, 9) i`,
	)
	src, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	all := readAll(t, src, cursor.Beginning, page)
	g.Expect(all).To(HaveLen(3 + 4*page + 3))
	want := []string{"1", "2", "3"}
	for i := 100; i < 100+4*page; i++ {
		want = append(want, fmt.Sprint(i))
	}
	want = append(want, "7", "8", "9")
	g.Expect(ids(all)).To(Equal(want), "nothing skipped or repeated")

	// Resuming inside the tie group continues right after the cursor's id.
	mid := all[3+page+2].Cursor()
	rest := readAll(t, src, mid, page)
	g.Expect(ids(rest)).To(Equal(want[3+page+3:]))

	// A rewound cursor (empty id) includes every record at its time.
	tie := readAll(t, src, cursor.Cursor{UpdatedAt: all[3].UpdatedAt}, page)
	g.Expect(ids(tie)).To(Equal(want[3:]))
}

func TestIDOrderMatchesSQL(t *testing.T) {
	tests := []struct {
		name   string
		idType string
		ids    []string
		want   []string
	}{
		{"integer ids compare as integers", "bigint", []string{"10", "9", "100", "-1", "2"}, []string{"-1", "2", "9", "10", "100"}},
		{"int4 ids", "integer", []string{"10", "9", "11"}, []string{"9", "10", "11"}},
		{"text ids compare byte-wise", "text", []string{"a10", "a9", "B", "b", "a", "é", "Z"}, []string{"B", "Z", "a", "a10", "a9", "b", "é"}},
		{"varchar ids", "varchar(20)", []string{"inv_10", "inv_9", "inv_100"}, []string{"inv_10", "inv_100", "inv_9"}},
		{"uuid ids", "uuid", []string{"f0000000-0000-0000-0000-000000000000", "0a000000-0000-0000-0000-000000000000", "a0000000-0000-0000-0000-000000000000"},
			[]string{"0a000000-0000-0000-0000-000000000000", "a0000000-0000-0000-0000-000000000000", "f0000000-0000-0000-0000-000000000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var values []string
			for _, id := range tt.ids {
				values = append(values, fmt.Sprintf("('%s', '2026-05-01T00:00:00Z')", id))
			}
			dsn := newDB(t,
				fmt.Sprintf(`CREATE TABLE items (id %s PRIMARY KEY, updated_at timestamptz NOT NULL)`, tt.idType),
				`INSERT INTO items VALUES `+strings.Join(values, ", "))
			src, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer src.Close()

			// Page size 1: every id becomes a cursor once.
			got := ids(readAll(t, src, cursor.Beginning, 1))
			g.Expect(got).To(Equal(tt.want))

			sorted := append([]string(nil), tt.ids...)
			sort.Slice(sorted, func(i, j int) bool { return src.CompareIDs(sorted[i], sorted[j]) < 0 })
			g.Expect(sorted).To(Equal(tt.want), "CompareIDs agrees with the SQL order")
		})
	}
}

func TestMicrosecondPrecision(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t,
		`CREATE TABLE items (id int PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO items VALUES (1, '2026-03-04 05:06:07.123455+00'), (2, '2026-03-04 05:06:07.123456+00'), (3, '2026-03-04 05:06:07.123457+00')`)
	src, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	page, err := src.ReadPage(context.Background(), cursor.Cursor{UpdatedAt: at}, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"2", "3"}))
	g.Expect(page.Records[0].UpdatedAt).To(Equal(at), "exact microseconds, in UTC")
	g.Expect(page.Records[0].UpdatedAt.Location()).To(Equal(time.UTC))
	g.Expect(page.Records[0].Fields["updated_at"]).To(Equal(at))

	// Round trip: the record's own cursor excludes exactly it and what is before it.
	page, err = src.ReadPage(context.Background(), page.Records[0].Cursor(), 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"3"}))

	// A cursor between two microseconds (from a finer-grained clock) is never rounded
	// down to include an earlier record.
	page, err = src.ReadPage(context.Background(), cursor.Cursor{UpdatedAt: at.Add(500), ID: "1"}, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"3"}))
}

func TestZoneDeclaredTimestampColumn(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t,
		`CREATE TABLE items (id int PRIMARY KEY, modified timestamp NOT NULL)`,
		// Wall times in New York: EST in winter (UTC-5), EDT in summer (UTC-4).
		`INSERT INTO items VALUES (1, '2026-01-15 10:00:00.000001'), (2, '2026-07-01 10:00:00.5'), (3, '2026-07-01 10:00:00.5'), (4, '2026-11-01 01:30:00')`)
	ctx := context.Background()
	spec := SourceConfig{Table: "items", UpdatedAtColumn: "modified", IDColumn: "id", TimeZone: "America/New_York"}
	src, err := NewSource(ctx, spec, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	all := readAll(t, src, cursor.Beginning, 1)
	g.Expect(ids(all)).To(Equal([]string{"1", "2", "3", "4"}))
	g.Expect(all[0].UpdatedAt).To(Equal(time.Date(2026, 1, 15, 15, 0, 0, 1000, time.UTC)))
	g.Expect(all[1].UpdatedAt).To(Equal(time.Date(2026, 7, 1, 14, 0, 0, 500000000, time.UTC)))
	g.Expect(all[1].Fields["modified"]).To(Equal(all[1].UpdatedAt))

	// Cursors are UTC; the query compares in the column's wall time.
	page, err := src.ReadPage(ctx, cursor.Cursor{UpdatedAt: time.Date(2026, 7, 1, 14, 0, 0, 500000000, time.UTC), ID: "2"}, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"3", "4"}))
	page, err = src.ReadPage(ctx, cursor.Cursor{UpdatedAt: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)}, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"2", "3", "4"}))

	n, err := src.CountWindow(ctx, time.Date(2026, 7, 1, 14, 0, 0, 500000000, time.UTC), time.Date(2026, 7, 1, 14, 0, 0, 500000000, time.UTC))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeEquivalentTo(2), "the window is closed at both ends")

	// A wall time the zone skips (clocks forward at 02:00) has no instant: its record is
	// read, at the end of the gap, and fails (source_timezone_test.go has the details).
	exec(t, dsn, `INSERT INTO items VALUES (5, '2026-03-08 02:30:00')`)
	page, err = src.ReadPage(ctx, all[0].Cursor(), 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"5", "2", "3", "4"}))
	g.Expect(src.RecordError(page.Records[0])).To(MatchError(ContainSubstring("does not exist in time zone: 2026-03-08 02:30:00 in America/New_York")))
}

func TestFetchByIDsAndCountWindow(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO items SELECT i, '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 hour' FROM generate_series(1, 10) i`)
	ctx := context.Background()
	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	recs, err := src.FetchByIDs(ctx, []string{"10", "9", "42", "not-a-number", "3"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(recs)).To(Equal([]string{"3", "9", "10"}), "ascending, missing ids absent")
	g.Expect(recs[0].UpdatedAt).To(Equal(time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)))

	n, err := src.CountWindow(ctx, time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeEquivalentTo(3))
}
