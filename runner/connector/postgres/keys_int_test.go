package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/keymerge"
)

// TestIntGroups: every integer of [lo, hi] is in exactly one group, and a group holds
// integers of one sign and one decimal length only, so that byte order within it is
// numeric order (non-negative) or its reverse (negative).
func TestIntGroups(t *testing.T) {
	probes := []int64{math.MinInt64, math.MinInt64 + 1, -1_000_000_000_000_000_000, -999_999_999_999_999_999,
		-100, -99, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_000_000, 999_999_999_999_999_999,
		1_000_000_000_000_000_000, math.MaxInt64 - 1, math.MaxInt64}
	for _, tc := range []struct {
		name   string
		lo, hi int64
		groups int
	}{
		{name: "1..1,000,000: seven lengths", lo: 1, hi: 1_000_000, groups: 7},
		{name: "one value", lo: 42, hi: 42, groups: 1},
		{name: "zero only", lo: 0, hi: 0, groups: 1},
		{name: "-9..9: negatives of one digit and non-negatives of one digit", lo: -9, hi: 9, groups: 2},
		{name: "-10..10", lo: -10, hi: 10, groups: 4},
		{name: "the whole int64 range", lo: math.MinInt64, hi: math.MaxInt64, groups: 38},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			groups := intGroups(tc.lo, tc.hi)
			g.Expect(groups).To(HaveLen(tc.groups))
			for _, gr := range groups {
				g.Expect(gr.lo).To(BeNumerically("<=", gr.hi))
				g.Expect(gr.lo).To(BeNumerically(">=", tc.lo))
				g.Expect(gr.hi).To(BeNumerically("<=", tc.hi))
				lo, hi := strconv.FormatInt(gr.lo, 10), strconv.FormatInt(gr.hi, 10)
				g.Expect(len(lo)).To(Equal(len(hi)), "group %+v mixes lengths", gr)
				g.Expect(gr.desc).To(Equal(gr.hi < 0), "group %+v: negatives descend, the others ascend", gr)
				g.Expect(gr.lo < 0).To(Equal(gr.hi < 0), "group %+v mixes signs", gr)
			}
			for _, v := range probes {
				if v < tc.lo || v > tc.hi {
					continue
				}
				n := 0
				for _, gr := range groups {
					if gr.lo <= v && v <= gr.hi {
						n++
					}
				}
				g.Expect(n).To(Equal(1), "%d is in %d groups", v, n)
			}
		})
	}
}

// seqBatches is a stream of keys handed out size at a time.
func seqBatches(size int, keys ...string) batches {
	return func() (keyRun, error) {
		n := min(size, len(keys))
		var a keyArena
		for _, k := range keys[:n] {
			a.add([]byte(k))
		}
		keys = keys[n:]
		return a.take(), nil
	}
}

// TestMergeAscending: streams merge into byte order, whatever the batch sizes; a stream out
// of order, or a key in two streams, ends the listing with an error.
func TestMergeAscending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams []batches
		want    []string
		err     string
	}{
		{name: "none", want: []string{}},
		{name: "groups by length merge into byte order", streams: []batches{
			seqBatches(2, "1", "2", "9"), seqBatches(1, "10", "11", "99"), seqBatches(3, "100"), seqBatches(2, "-1", "-2"), seqBatches(1, "-10"),
		}, want: []string{"-1", "-10", "-2", "1", "10", "100", "11", "2", "9", "99"}},
		{name: "an empty stream", streams: []batches{seqBatches(1), seqBatches(1, "a")}, want: []string{"a"}},
		{name: "a stream out of order", streams: []batches{seqBatches(1, "2", "1")}, want: []string{"2"},
			err: `values are not ascending in byte order: "1" after "2"`},
		{name: "a key in two streams", streams: []batches{seqBatches(1, "5"), seqBatches(1, "5")}, want: []string{"5"},
			err: `values are not ascending in byte order: "5" after "5"`},
		{name: "a stream error", streams: []batches{seqBatches(1, "1"), func() (keyRun, error) { return keyRun{}, errors.New("connection reset") }},
			want: []string{}, err: "connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := []string{}
			var err error
			mergeAscending(tc.streams, func(k string, e error) bool {
				if e != nil {
					err = e
					return false
				}
				got = append(got, k)
				return true
			})
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// TestSourceListsIntegerValuesInByteOrderWithoutSort: an indexed integer column is listed
// from its index, group by group (more rows than one FETCH, negative numbers, zero, every
// length, the int64 extremes), exactly as sorting every value's text in byte order would;
// an unindexed integer column, and an int4 column, give the same order by the other path.
func TestSourceListsIntegerValuesInByteOrderWithoutSort(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	extremes := []int64{math.MinInt64, math.MinInt64 + 1, -1_000_000_000_000_000_000, -999_999_999_999_999_999, -12345, -10, -9, -1, 0,
		1_000_000_000_000_000_000, 999_999_999_999_999_999, math.MaxInt64}
	var vals []string
	for _, v := range extremes {
		vals = append(vals, strconv.FormatInt(v, 10))
	}
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, n int4 UNIQUE, plain bigint, updated_at timestamptz NOT NULL)`,
		// 20,000 ids (more than two FETCHes of the largest group), a gap, the extremes.
		`INSERT INTO items SELECT i, i - 10000, i * 3, now() FROM generate_series(1, 20000) AS i WHERE i <> 777`,
		fmt.Sprintf(`INSERT INTO items SELECT v, NULL, NULL, now() FROM unnest(ARRAY[%s]::int8[]) AS v`, strings.Join(vals, ",")))
	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()

	want := func(q string) []string {
		conn, err := pgx.Connect(ctx, dsn)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, q)
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for rows.Next() {
			var s string
			g.Expect(rows.Scan(&s)).To(Succeed())
			out = append(out, s)
		}
		g.Expect(rows.Err()).NotTo(HaveOccurred())
		g.Expect(slices.IsSorted(out)).To(BeTrue(), "Go's string order is COLLATE \"C\"")
		return out
	}
	for _, col := range []string{"id", "n", "plain"} {
		has, err := indexed(ctx, src.pool, src.rel, col)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(has).To(Equal(col != "plain"), "column %s", col)
		got := collect2(g, src.FieldValues(ctx, col, ""))
		g.Expect(got).To(Equal(want(fmt.Sprintf(`SELECT %[1]s::text FROM items WHERE %[1]s IS NOT NULL ORDER BY %[1]s::text COLLATE "C"`, col))), "column %s", col)
		if col == "id" {
			g.Expect(got).To(HaveLen(20000-1+len(extremes)), "every id once")
			g.Expect(got).NotTo(ContainElement("777"))
		}
	}
}

// TestIntegerListingFindsDeletedRows: merged with the sink's key listing (keymerge, byte
// order), the index-ordered listing of integer ids finds exactly the rows deleted from the
// source (at group boundaries, negative, the largest id), and nothing else.
func TestIntegerListingFindsDeletedRows(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO items SELECT i, now() FROM generate_series(-150, 12000) AS i`,
		`INSERT INTO items VALUES (9223372036854775807, now())`,
		contactsTable,
		`INSERT INTO contacts (ext_id, source_updated_at) SELECT 'billing:' || id, now() FROM items`,
		`DELETE FROM items WHERE id IN (-150, -10, -9, -1, 0, 9, 10, 99, 100, 9999, 10000, 12000, 9223372036854775807)`)
	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	sink := newSink(t, dsn, 1000, DeleteHard, SinkOptions{})
	prefixed := func(yield func(string, error) bool) {
		for v, err := range src.FieldValues(ctx, "id", "") {
			if !yield("billing:"+v, err) {
				return
			}
		}
	}
	var sinkOnly []string
	both := 0
	g.Expect(keymerge.Keys(ctx, prefixed, sink.Keys(ctx, ""), func(k string, s keymerge.Side) error {
		switch s {
		case keymerge.SinkOnly:
			sinkOnly = append(sinkOnly, k)
		case keymerge.Both:
			both++
		default:
			return fmt.Errorf("%s is in the source only", k)
		}
		return nil
	})).To(Succeed())
	g.Expect(sinkOnly).To(Equal([]string{"billing:-1", "billing:-10", "billing:-150", "billing:-9", "billing:0", "billing:10", "billing:100",
		"billing:10000", "billing:12000", "billing:9", "billing:9223372036854775807", "billing:99", "billing:9999"}))
	g.Expect(both).To(Equal(12151 + 1 - 13))
}
