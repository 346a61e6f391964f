package httpapi

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestTiesWithUpdatedSinceOnly: an API with no after-id parameter returns the whole tie
// group at the cursor time again on every fresh query; nothing is skipped or repeated,
// even when each page is read by a new source (a new run, or a fresh walk).
func TestTiesWithUpdatedSinceOnly(t *testing.T) {
	var recs []apiRec
	for i := range 7 { // one tie group of 7, larger than a page
		recs = append(recs, apiRec{int64(100 - i), t0})
	}
	recs = append(recs, apiRec{int64(1), t0.Add(time.Second)}, apiRec{int64(2), t0.Add(time.Second)})
	for _, paging := range []string{PageNextToken, PageLinkHeader, PageOffset} {
		for _, format := range []string{TimeRFC3339, TimeUnixSeconds, TimeUnixMillis} {
			t.Run(paging+" "+format, func(t *testing.T) {
				g := NewWithT(t)
				api := (&fakeAPI{recs: recs, format: format, paging: paging, maxLimit: 3}).start(t)
				var got []connector.Record
				after := cursor.Cursor{UpdatedAt: t0}
				for range 20 {
					p, err := api.source(t).ReadPage(t.Context(), after, 3)
					g.Expect(err).NotTo(HaveOccurred())
					got = append(got, p.Records...)
					if !p.More || len(p.Records) == 0 {
						break
					}
					after = p.Records[len(p.Records)-1].Cursor()
				}
				g.Expect(ids(got)).To(Equal([]string{"94", "95", "96", "97", "98", "99", "100", "1", "2"}))
				// every fresh query asked for the tie group's time again
				for _, q := range api.requests() {
					if !q.Has("page_token") && !q.Has("offset") {
						g.Expect(q.Get("updated_since")).NotTo(BeEmpty())
					}
				}
			})
		}
	}
}

// TestUnixSecondsFloorsTheCursor: a cursor inside a second (a rewound or configured start)
// is sent floored, and the records read again before it are dropped.
func TestUnixSecondsFloorsTheCursor(t *testing.T) {
	g := NewWithT(t)
	recs := []apiRec{{int64(1), t0}, {int64(2), t0.Add(time.Second)}, {int64(3), t0.Add(2 * time.Second)}}
	api := (&fakeAPI{recs: recs, format: TimeUnixSeconds, paging: PageLinkHeader}).start(t)
	start := cursor.Cursor{UpdatedAt: t0.Add(1500 * time.Millisecond)}
	got, err := readSorted(t, api.source(t), start, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(got)).To(Equal([]string{"3"}))
	g.Expect(api.requests()[0].Get("updated_since")).To(Equal("1782863701")) // t0+1s: floored

	start = cursor.Cursor{UpdatedAt: t0.Add(time.Second)} // exactly at a record: it is read
	got, err = readSorted(t, api.source(t), start, 10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids(got)).To(Equal([]string{"2", "3"}))
}
