package postgres

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestReadPageEndsAtTheByteBudget: a page of wide rows ends once its column data reach
// maxPageBytes, with More set, however large the page size; paging on from its last row
// reads every row once, in order, ties across the cut included.
func TestReadPageEndsAtTheByteBudget(t *testing.T) {
	g := NewWithT(t)
	// 12 rows of a little over 1 MiB each; rows 3 to 6 share one updated_at: the first cut falls inside them.
	dsn := newDB(t,
		`CREATE TABLE wide (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, body text NOT NULL)`,
		fmt.Sprintf(`INSERT INTO wide SELECT i,
		   '2026-01-01 00:00:00+00'::timestamptz + (CASE WHEN i BETWEEN 3 AND 6 THEN 3 ELSE i END) * interval '1 second',
		   repeat('x', %d)
		 FROM generate_series(1, 12) i`, 1<<20),
	)
	src, err := NewSource(context.Background(), SourceConfig{Table: "wide", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	page, err := src.ReadPage(context.Background(), cursor.Cursor{}, 100)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(page.Records)).To(Equal([]string{"1", "2", "3", "4"}), "the fourth row reaches 4 MiB")
	g.Expect(page.More).To(BeTrue())

	var sizes []int
	c := cursor.Cursor{}
	var all []string
	for pages := 0; pages < 20; pages++ {
		p, err := src.ReadPage(context.Background(), c, 100)
		g.Expect(err).NotTo(HaveOccurred())
		sizes = append(sizes, len(p.Records))
		all = append(all, ids(p.Records)...)
		if len(p.Records) > 0 {
			c = p.Records[len(p.Records)-1].Cursor()
		}
		if !p.More {
			break
		}
	}
	g.Expect(sizes).To(Equal([]int{4, 4, 4, 0}))
	g.Expect(all).To(Equal([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}))
	for _, r := range page.Records {
		g.Expect(r.Fields["body"]).To(HaveLen(1 << 20))
	}
}
