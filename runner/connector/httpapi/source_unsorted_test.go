package httpapi

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// unsortedRecords come back in id order with times out of order; ids 1-3 are older than
// the start used below, so a whole first page is dropped.
func unsortedRecords() []apiRec {
	s := time.Second
	return []apiRec{
		{int64(1), t0}, {int64(2), t0}, {int64(3), t0.Add(s)},
		{int64(4), t0.Add(9 * s)}, {int64(5), t0.Add(2 * s)}, {int64(6), t0.Add(7 * s)},
		{int64(7), t0.Add(2 * s)}, {int64(8), t0.Add(3 * s)}, {int64(9), t0.Add(20 * s)},
		{int64(10), t0.Add(5 * s)}, {int64(11), t0.Add(2 * s)},
	}
}

// TestUnsortedWalk: every call carries the run's start; the source walks the API's pages
// with its own tokens, drops records before the start, never returns an empty page with
// more to come, and ends with More=false having returned each record once.
func TestUnsortedWalk(t *testing.T) {
	start := cursor.Cursor{UpdatedAt: t0.Add(2 * time.Second)}
	for _, paging := range []string{PageNextToken, PageLinkHeader, PageOffset, PageCursorID} {
		for _, format := range []string{TimeRFC3339, TimeUnixSeconds, TimeUnixMillis} {
			t.Run(paging+" "+format, func(t *testing.T) {
				g := NewWithT(t)
				api := (&fakeAPI{recs: unsortedRecords(), format: format, paging: paging, unsorted: true, afterID: paging == PageCursorID}).start(t)
				src := api.source(t)
				g.Expect(src.Unsorted()).To(BeTrue())

				got, err := readUnsorted(t, src, cursor.Beginning, 3)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ids(got)).To(Equal([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}))

				got, err = readUnsorted(t, src, start, 3)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ids(got)).To(Equal([]string{"4", "5", "6", "7", "8", "9", "10", "11"}))
				for _, r := range got {
					g.Expect(r.UpdatedAt).NotTo(BeTemporally("<", start.UpdatedAt))
				}
			})
		}
	}
}

// TestUnsortedDropsRecordsBeforeTheStart: the API's updated_since may be coarser than the
// start (or ignored); the source drops what is before it, and a whole page of such records
// does not end the walk.
func TestUnsortedDropsRecordsBeforeTheStart(t *testing.T) {
	g := NewWithT(t)
	api := (&fakeAPI{recs: unsortedRecords(), format: TimeRFC3339, paging: PageNextToken, unsorted: true}).start(t)
	spec := api.spec()
	spec.UpdatedSinceParam = "" // the API has no such filter: the source reads everything
	src, err := NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	start := cursor.Cursor{UpdatedAt: t0.Add(2 * time.Second)}
	p, err := src.ReadPage(t.Context(), start, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(p.Records)).To(Equal([]string{"4", "5", "6"}))
	g.Expect(p.More).To(BeTrue())
	g.Expect(api.requests()).To(HaveLen(2)) // the first page was entirely before the start
	for _, q := range api.requests() {
		g.Expect(q.Has("updated_since")).To(BeFalse())
	}

	rest, err := readUnsorted(t, src, start, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(rest)).To(Equal([]string{"7", "8", "9", "10", "11"}))
	tokens := []string{}
	for _, q := range api.requests() {
		tokens = append(tokens, q.Get("page_token"))
	}
	g.Expect(tokens).To(Equal([]string{"", "tok-3", "tok-6", "tok-9"})) // one walk, no restart
}
