package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
)

// TestStoredHashesByKeyRange: the stored hashes read as one key range (consecutive ids,
// whose keys interleave with keys of other lengths in byte order), as a range too sparse to
// read (a lookup per key instead), and from a key column in a non-byte collation (always a
// lookup per key) are the same answer: exactly the keys asked for that have a row with a
// hash, never a row of the range that was not asked for.
func TestStoredHashesByKeyRange(t *testing.T) {
	ctx := context.Background()
	for _, coll := range []string{`"C"`, `"und-x-icu"`} {
		t.Run(coll, func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, fmt.Sprintf(`CREATE TABLE crm (k text COLLATE %s PRIMARY KEY, email text, _checkpointed_hash text)`, coll),
				`INSERT INTO crm SELECT 'billing:' || i, 'e', CASE WHEN i % 7 = 0 THEN NULL ELSE 'h' || i END FROM generate_series(1, 30000) AS i`)
			s, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, CopyThreshold: 1000,
				DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, dsn, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			g.Expect(s.qHashRange != "").To(Equal(coll == `"C"`), "a range only where the key column compares in byte order")
			for _, tc := range []struct {
				name           string
				from, to, step int
				ranged         bool // read as one range (with a byte-order key column)
			}{
				{"a page of consecutive ids (keys of other lengths in between)", 20000, 24999, 1, true},
				{"a page of consecutive ids, some absent", 29900, 30100, 1, true},
				{"a page of consecutive ids across a length boundary", 9500, 10499, 1, false},
				{"sparse ids: too many rows in between", 1, 30000, 97, false},
				{"fewer keys than a range is tried for", 5, 20, 1, false},
			} {
				var keys []string
				want := map[string]string{}
				for i := tc.from; i <= tc.to; i += tc.step {
					k := fmt.Sprintf("billing:%d", i)
					keys = append(keys, k)
					if i <= 30000 && i%7 != 0 {
						want[k] = fmt.Sprintf("h%d", i)
					}
				}
				if s.qHashRange != "" && len(keys) >= hashRangeMin {
					done, err := s.hashRange(ctx, keys, map[string]string{})
					g.Expect(err).NotTo(HaveOccurred(), tc.name)
					g.Expect(done).To(Equal(tc.ranged), tc.name)
				}
				// The same keys in byte order (matched by a walk), reversed (through a
				// map), and with a key asked for twice: the same answer.
				sorted := slices.Clone(keys)
				slices.Sort(sorted)
				reversed := slices.Clone(sorted)
				slices.Reverse(reversed)
				twice := slices.Insert(slices.Clone(sorted), len(sorted)/2, sorted[len(sorted)/2])
				for name, ks := range map[string][]string{"as listed": keys, "sorted": sorted, "reversed": reversed, "a key twice": twice} {
					got, err := s.StoredHashes(ctx, ks)
					g.Expect(err).NotTo(HaveOccurred(), tc.name)
					g.Expect(got).To(Equal(want), "%s, %s", tc.name, name)
				}
			}
		})
	}
}
