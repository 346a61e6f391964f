package cursor

import (
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func intOrder(a, b string) int {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return int(x - y)
}

func TestCompare(t *testing.T) {
	t0 := time.Date(2026, 6, 30, 23, 55, 0, 123456000, time.UTC)
	t1 := t0.Add(time.Microsecond)
	for _, tc := range []struct {
		name string
		a, b Cursor
		ids  IDOrder
		want int
	}{
		{"earlier time first", Cursor{t0, "9"}, Cursor{t1, "1"}, intOrder, -1},
		{"integer ids: 9 before 10", Cursor{t0, "9"}, Cursor{t0, "10"}, intOrder, -1},
		{"text ids: 10 before 9", Cursor{t0, "9"}, Cursor{t0, "10"}, strings.Compare, 1},
		{"empty id before every id", Cursor{t0, ""}, Cursor{t0, "0"}, intOrder, -1},
		{"equal", Cursor{t0, "inv_1"}, Cursor{t0, "inv_1"}, strings.Compare, 0},
		{"a microsecond matters", Cursor{t1, ""}, Cursor{t0, "99"}, intOrder, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(Compare(tc.a, tc.b, tc.ids)).To(BeNumerically(map[int]string{-1: "<", 0: "==", 1: ">"}[tc.want], 0))
		})
	}
}

func TestRewindAndRoundTrip(t *testing.T) {
	g := NewWithT(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	c := Cursor{UpdatedAt: time.Date(2026, 7, 1, 1, 55, 0, 123456000, berlin).UTC(), ID: "inv_10492"}
	g.Expect(c.Format()).To(Equal("2026-06-30T23:55:00.123456Z"))
	g.Expect(c.Rewind(5 * time.Minute)).To(Equal(Cursor{UpdatedAt: time.Date(2026, 6, 30, 23, 50, 0, 123456000, time.UTC)}))
	g.Expect(Beginning.Rewind(time.Hour)).To(Equal(Beginning))

	back, err := Parse(c.Format(), c.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back).To(Equal(c), "microseconds survive the round trip")
	_, err = Parse("yesterday", "")
	g.Expect(err).To(MatchError(ContainSubstring(`cursor time "yesterday" is not RFC3339`)))
}
