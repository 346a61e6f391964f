package postgres

import (
	"context"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestRecycledMapsReadLikeNewOnes: pages read into maps handed back (Recycle) hold
// exactly what pages read into new maps hold — every column, NULLs as nil, nothing left of
// the record the map held before — and the maps are reused; Recycle takes the records'
// maps (Fields nil).
func TestRecycledMapsReadLikeNewOnes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, name text, qty integer, price numeric(8,2), doc jsonb)`,
		`INSERT INTO items SELECT i, '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
		   CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END, CASE WHEN i % 4 = 0 THEN NULL ELSE i END,
		   CASE WHEN i % 5 = 0 THEN NULL ELSE i / 7.0 END, CASE WHEN i % 2 = 0 THEN NULL ELSE jsonb_build_object('i', i) END
		 FROM generate_series(1, 60) i`,
	)
	cfg := SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}
	fresh, err := NewSource(ctx, cfg, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer fresh.Close()
	recycling, err := NewSource(ctx, cfg, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer recycling.Close()

	var after cursor.Cursor
	reused := 0
	var handed map[uintptr]bool
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 20))
		want, err := fresh.ReadPage(ctx, after, 7)
		g.Expect(err).NotTo(HaveOccurred())
		got, err := recycling.ReadPage(ctx, after, 7)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(want), "page %d", pages)
		for _, r := range got.Records {
			g.Expect(r.Fields).To(HaveLen(6))
			if handed[reflect.ValueOf(r.Fields).Pointer()] {
				reused++
			}
		}
		if !got.More {
			break
		}
		after = got.Records[len(got.Records)-1].Cursor()
		// The odd pages' maps come back, so that the next page mixes reused and new maps.
		handed = map[uintptr]bool{}
		if pages%2 == 1 {
			for _, r := range got.Records {
				handed[reflect.ValueOf(r.Fields).Pointer()] = true
			}
			recycling.Recycle(got.Records)
			g.Expect(got.Records).To(HaveEach(HaveField("Fields", BeNil())))
		}
	}
	g.Expect(reused).To(BeNumerically(">=", 3*7), "maps handed back were reused")
	var _ connector.Recycler = recycling
}

// TestFieldsHandedBackEarlyReadLikeNewOnes: maps handed back by RecycleFields (the engine,
// once a page is mapped and before it is written) are reused by later pages that read
// exactly like pages read into new maps, and the page's records themselves stay intact
// (ids and cursors kept, Fields nil) while later pages are read.
func TestFieldsHandedBackEarlyReadLikeNewOnes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, name text, qty integer)`,
		`INSERT INTO items SELECT i, '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second',
		   CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END, i FROM generate_series(1, 40) i`,
	)
	cfg := SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}
	fresh, err := NewSource(ctx, cfg, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer fresh.Close()
	early, err := NewSource(ctx, cfg, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer early.Close()

	var after cursor.Cursor
	reused := 0
	handed := map[uintptr]bool{}
	var kept [][]connector.Record // the earlier pages' slices, as the engine holds them
	var keptCursors []cursor.Cursor
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 20))
		want, err := fresh.ReadPage(ctx, after, 6)
		g.Expect(err).NotTo(HaveOccurred())
		got, err := early.ReadPage(ctx, after, 6)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(want), "page %d", pages)
		for _, r := range got.Records {
			if handed[reflect.ValueOf(r.Fields).Pointer()] {
				reused++
			}
			handed[reflect.ValueOf(r.Fields).Pointer()] = true
			keptCursors = append(keptCursors, r.Cursor())
		}
		early.RecycleFields(got.Records)
		g.Expect(got.Records).To(HaveEach(HaveField("Fields", BeNil())))
		kept = append(kept, got.Records)
		if !got.More {
			break
		}
		after = got.Records[len(got.Records)-1].Cursor()
	}
	g.Expect(reused).To(BeNumerically(">=", 5*6), "maps handed back were reused")
	i := 0
	for _, page := range kept {
		for _, r := range page {
			g.Expect(r.Cursor()).To(Equal(keptCursors[i]), "a record of an earlier page changed")
			i++
		}
	}
	g.Expect(i).To(Equal(40))
	var _ connector.FieldsRecycler = early
}
