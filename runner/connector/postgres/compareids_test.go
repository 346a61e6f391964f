package postgres

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
)

// TestCompareDecimals: integer ids in strconv's decimal form compare as their values without
// being parsed; any other form is left to the caller (ok false), and CompareIDs orders
// integer ids by value in every form it parses.
func TestCompareDecimals(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1", "2", -1, true},
		{"9", "10", -1, true},
		{"10", "9", 1, true},
		{"123", "123", 0, true},
		{"0", "1", -1, true},
		{"199", "200", -1, true},
		{"9223372036854775807", "999", 1, true},
		{"-1", "1", 0, false},
		{"01", "1", 0, false},
		{"1", "01", 0, false},
		{"", "1", 0, false},
		{"1a", "12", 0, false},
		{"+1", "1", 0, false},
		{" 1", "1", 0, false},
	} {
		got, ok := compareDecimals(tc.a, tc.b)
		g.Expect(ok).To(Equal(tc.ok), "%q vs %q", tc.a, tc.b)
		if ok {
			g.Expect(got).To(Equal(tc.want), "%q vs %q", tc.a, tc.b)
		}
	}
	src := &Source{ids: idInt}
	sign := func(x int) int { return min(max(x, -1), 1) }
	for range 10000 {
		x, y := rand.Int64()>>rand.IntN(63), rand.Int64()>>rand.IntN(63)
		if rand.IntN(4) == 0 {
			x = -x
		}
		if rand.IntN(10) == 0 {
			y = x
		}
		want := 0
		switch {
		case x < y:
			want = -1
		case x > y:
			want = 1
		}
		g.Expect(sign(src.CompareIDs(strconv.FormatInt(x, 10), strconv.FormatInt(y, 10)))).To(Equal(want), "%d vs %d", x, y)
	}
	g.Expect(src.CompareIDs(strconv.FormatInt(math.MaxInt64, 10), "007")).To(Equal(1))
	g.Expect(src.CompareIDs("007", "8")).To(Equal(-1), "a leading zero is parsed")
}
