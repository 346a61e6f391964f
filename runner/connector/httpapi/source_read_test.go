package httpapi

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// tiedRecords has ties at one time across page boundaries, integer ids that sort
// differently as strings (9 < 10), and a tie group larger than a page.
func tiedRecords() []apiRec {
	s := time.Second
	return []apiRec{
		{int64(10), t0}, {int64(9), t0}, {int64(2), t0}, {int64(11), t0},
		{int64(1), t0.Add(s)},
		{int64(3), t0.Add(2 * s)}, {int64(4), t0.Add(2 * s)}, {int64(5), t0.Add(2 * s)}, {int64(6), t0.Add(2 * s)}, {int64(7), t0.Add(2 * s)},
		{int64(8), t0.Add(5 * s)}, {int64(12), t0.Add(5 * s)},
	}
}

// TestSortedReadsEveryRecordOnce: whatever the pagination, time format, page size and
// start, a sorted walk returns exactly the records after the start, in order.
func TestSortedReadsEveryRecordOnce(t *testing.T) {
	starts := []cursor.Cursor{
		cursor.Beginning,
		{UpdatedAt: t0, ID: "9"},
		{UpdatedAt: t0.Add(2 * time.Second)},
		{UpdatedAt: t0.Add(2 * time.Second), ID: "4"},
		{UpdatedAt: t0.Add(2 * time.Second), ID: "7"},
		{UpdatedAt: t0.Add(time.Hour)},
	}
	type variant struct {
		paging   string
		afterID  bool
		maxLimit int
	}
	var variants []variant
	for _, p := range []string{PageNextToken, PageLinkHeader, PageOffset, PageCursorID} {
		for _, a := range []bool{false, true} {
			if p == PageCursorID && !a {
				continue
			}
			variants = append(variants, variant{p, a, 0}, variant{p, a, 2})
		}
	}
	for _, v := range variants {
		for _, format := range []string{TimeRFC3339, TimeUnixSeconds, TimeUnixMillis} {
			name := fmt.Sprintf("%s afterId=%v maxLimit=%d %s", v.paging, v.afterID, v.maxLimit, format)
			t.Run(name, func(t *testing.T) {
				api := (&fakeAPI{recs: tiedRecords(), format: format, paging: v.paging, afterID: v.afterID, maxLimit: v.maxLimit}).start(t)
				for _, limit := range []int{1, 2, 3, 5, 100} {
					for _, start := range starts {
						g := NewWithT(t)
						got, err := readSorted(t, api.source(t), start, limit)
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(ids(got)).To(Equal(wantAfter(api.recs, start)), "limit %d after %s", limit, start)
					}
				}
			})
		}
	}
}

// TestSortedWalkContinues: the engine's next call, after the last record returned,
// continues the API's pages rather than querying from the top again.
func TestSortedWalkContinues(t *testing.T) {
	g := NewWithT(t)
	api := (&fakeAPI{recs: tiedRecords(), format: TimeRFC3339, paging: PageNextToken}).start(t)
	src := api.source(t)
	got, err := readSorted(t, src, cursor.Beginning, 4)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(12))
	reqs := api.requests()
	g.Expect(reqs).To(HaveLen(3))
	g.Expect(reqs[0].Get("page_token")).To(BeEmpty())
	g.Expect(reqs[0].Has("updated_since")).To(BeFalse())
	g.Expect(reqs[1].Get("page_token")).To(Equal("tok-4"))
	g.Expect(reqs[2].Get("page_token")).To(Equal("tok-8"))
	for _, q := range reqs {
		g.Expect(q.Get("limit")).To(Equal("4"))
	}

	// any other `after` starts a fresh query from it
	_, err = src.ReadPage(t.Context(), cursor.Cursor{UpdatedAt: t0, ID: "9"}, 4)
	g.Expect(err).NotTo(HaveOccurred())
	last := api.requests()[3]
	g.Expect(last.Get("updated_since")).To(Equal(t0.Format(time.RFC3339Nano)))
	g.Expect(last.Has("page_token")).To(BeFalse())
}

// TestCursorQuery: the cursor's time in each format (floored for unix units) and id.
func TestCursorQuery(t *testing.T) {
	frac := time.Date(2026, 6, 30, 23, 55, 7, 123456789, time.UTC)
	tests := []struct {
		format  string
		afterID bool
		after   cursor.Cursor
		want    url.Values
	}{
		{format: TimeRFC3339, after: cursor.Cursor{UpdatedAt: frac, ID: "x"},
			want: url.Values{"updated_since": {"2026-06-30T23:55:07.123456789Z"}, "limit": {"10"}}},
		{format: TimeRFC3339, afterID: true, after: cursor.Cursor{UpdatedAt: frac, ID: "inv 1&2"},
			want: url.Values{"updated_since": {"2026-06-30T23:55:07.123456789Z"}, "after_id": {"inv 1&2"}, "limit": {"10"}}},
		{format: TimeRFC3339, afterID: true, after: cursor.Cursor{UpdatedAt: frac},
			want: url.Values{"updated_since": {"2026-06-30T23:55:07.123456789Z"}, "limit": {"10"}}},
		{format: TimeUnixSeconds, after: cursor.Cursor{UpdatedAt: frac},
			want: url.Values{"updated_since": {fmt.Sprint(frac.Unix())}, "limit": {"10"}}},
		{format: TimeUnixMillis, after: cursor.Cursor{UpdatedAt: frac},
			want: url.Values{"updated_since": {fmt.Sprint(frac.UnixMilli())}, "limit": {"10"}}},
		{format: TimeUnixSeconds, after: cursor.Beginning,
			want: url.Values{"limit": {"10"}}},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		api := (&fakeAPI{format: tt.format, paging: PageLinkHeader, afterID: tt.afterID}).start(t)
		_, err := api.source(t).ReadPage(t.Context(), tt.after, 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(api.requests()).To(Equal([]url.Values{tt.want}), "%s after %s", tt.format, tt.after)
	}
}

// TestSpecURLQueryIsKept: a query in spec.url is sent with every page.
func TestSpecURLQueryIsKept(t *testing.T) {
	g := NewWithT(t)
	api := (&fakeAPI{recs: tiedRecords(), format: TimeRFC3339, paging: PageNextToken}).start(t)
	spec := api.spec()
	spec.URL += "?status=paid"
	src, err := NewSource(spec, newClient(), SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = readSorted(t, src, cursor.Beginning, 5)
	g.Expect(err).NotTo(HaveOccurred())
	for _, q := range api.requests() {
		g.Expect(q.Get("status")).To(Equal("paid"))
	}
}
