package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// berlinGap is 2026-03-29 in Europe/Berlin: at 02:00 CET the clocks move to 03:00 CEST,
// so the wall times [02:00, 03:00) do not exist. 03:00 CEST is 01:00 UTC.
var berlinGapEnd = time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)

// TestDSTGapCursorRowIsARecordError: a zone-less cursor value the declared zone skips is a
// record error for that row (with its id), never a failed read; every other row is read,
// in ascending cursor order, with any page size and from any cursor.
func TestDSTGapCursorRowIsARecordError(t *testing.T) {
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
			(8, '2026-10-25 02:30:00')`)
	ctx := context.Background()
	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "modified", IDColumn: "id", TimeZone: "Europe/Berlin"}, dsn, SourceOptions{})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	want := []string{"1", "2", "3", "6", "7", "4", "5", "8"}
	for _, size := range []int{1, 2, 3, 10} {
		g := NewWithT(t)
		all := readAll(t, src, cursor.Beginning, size) // checks that every record is after the one before
		g.Expect(ids(all)).To(Equal(want), "page size %d: every row once, gap rows by id", size)

		g.Expect(all[0].UpdatedAt).To(Equal(berlinGapEnd.Add(-time.Microsecond)))
		g.Expect(src.RecordError(all[0])).To(Succeed())
		g.Expect(all[5].UpdatedAt).To(Equal(berlinGapEnd))
		g.Expect(all[5].Fields["modified"]).To(Equal(berlinGapEnd))
		g.Expect(src.RecordError(all[5])).To(Succeed())
		g.Expect(all[6].UpdatedAt).To(Equal(berlinGapEnd.Add(30 * time.Minute)))
		for _, r := range all[1:5] {
			err := src.RecordError(r)
			var re *connector.RecordError
			g.Expect(err).To(BeAssignableToTypeOf(re))
			re = err.(*connector.RecordError)
			g.Expect(re.ID).To(Equal(r.ID))
			g.Expect(re.Field).To(Equal("modified"))
			g.Expect(err).To(MatchError(And(ContainSubstring("does not exist in time zone"), ContainSubstring(" in Europe/Berlin"))))
			g.Expect(r.Fields["modified"]).To(BeAssignableToTypeOf(NonexistentWallTime{}), "the value is not a time the mapping could take")
		}
		g.Expect(src.RecordError(all[1])).To(MatchError("record 2 field modified: wall time does not exist in time zone: 2026-03-29 02:30:00 in Europe/Berlin"))
	}

	g := NewWithT(t)
	// Resuming inside the gap rows continues right after the cursor's id.
	all := readAll(t, src, cursor.Beginning, 10)
	g.Expect(ids(readAll(t, src, all[2].Cursor(), 1))).To(Equal(want[3:]))
	g.Expect(ids(readAll(t, src, all[4].Cursor(), 2))).To(Equal(want[5:]))
	// A rewound cursor (empty id) at a gap row's time includes every gap row.
	g.Expect(ids(readAll(t, src, cursor.Cursor{UpdatedAt: all[3].UpdatedAt}, 2))).To(Equal(want[1:]))
	// A rewound cursor before the gap.
	g.Expect(ids(readAll(t, src, cursor.Cursor{UpdatedAt: berlinGapEnd.Add(-time.Hour)}, 2))).To(Equal(want))

	// Fetched by id (the retry of failed records), gap rows come too, in cursor order.
	recs, err := src.FetchByIDs(ctx, []string{"5", "2", "3", "1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(recs)).To(Equal([]string{"1", "2", "3", "5"}))
	g.Expect(src.RecordError(recs[1])).To(HaveOccurred())
}

// TestZoneLessColumnsNeedADeclaredZone: the declared zone applies to every zone-less
// timestamp column read, not only the cursor; a zone-less column without a declared zone is
// a setup error naming it.
func TestZoneLessColumnsNeedADeclaredZone(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id int PRIMARY KEY, updated_at timestamptz NOT NULL, seen timestamp)`,
		`INSERT INTO items VALUES (1, '2026-03-29 00:00:00+00', '2026-03-29 03:30:00'), (2, '2026-03-29 00:00:01+00', '2026-03-29 02:30:00')`,
		`CREATE TABLE plain (id int PRIMARY KEY, updated_at timestamptz NOT NULL)`)

	_, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).To(MatchError(And(ContainSubstring(`column "seen" of table "items" is timestamp without time zone`), ContainSubstring("declare spec.source.postgres.timeZone"))))

	_, err = NewSource(ctx, SourceConfig{Table: "plain", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "Europe/Berlin"}, dsn, SourceOptions{})
	g.Expect(err).To(MatchError(ContainSubstring("remove spec.source.postgres.timeZone")))

	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "Europe/Berlin"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	page, err := src.ReadPage(ctx, cursor.Beginning, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"1", "2"}))
	g.Expect(page.Records[0].Fields["seen"]).To(Equal(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)), "03:30 CEST")
	g.Expect(page.Records[1].Fields["seen"]).To(Equal(NonexistentWallTime{Wall: "2026-03-29 02:30:00", Zone: "Europe/Berlin"}))
	g.Expect(src.RecordError(page.Records[1])).To(Succeed(), "a field (not the cursor) fails only where the mapping reads it")
}
