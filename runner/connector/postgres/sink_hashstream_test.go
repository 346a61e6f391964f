package postgres

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
)

// TestStreamHashesByCopy: the stored hashes streamed by one binary COPY, handed over in
// runs of pairs (in one buffer reused from run to run), are exactly what StoredHashes answers for every key (rows without a hash
// left out, keys holding tabs, backslashes, newlines and multi-byte characters as they
// are), each key once; a stream stopped early leaves the sink usable, and a new stream
// yields everything again.
func TestStreamHashesByCopy(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	dsn := newDB(t, `CREATE TABLE crm (k text PRIMARY KEY, email text, _checkpointed_hash text)`,
		`INSERT INTO crm SELECT 'billing:' || i || CASE i % 5 WHEN 1 THEN E'\t\\x' WHEN 2 THEN E'\nü' ELSE '' END, 'e',
		   CASE WHEN i % 7 = 0 THEN NULL ELSE md5(i::text) END FROM generate_series(1, 20000) AS i`)
	s, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, CopyThreshold: 1000,
		DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()

	var keys []string
	for i := 1; i <= 20000; i++ {
		suffix := map[int]string{1: "\t\\x", 2: "\nü"}[i%5]
		keys = append(keys, fmt.Sprintf("billing:%d%s", i, suffix))
	}
	want, err := s.StoredHashes(ctx, keys)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(want).To(HaveLen(20000 - 20000/7))

	stream := func(stopAfter int) map[string]string {
		got := map[string]string{}
		for run, err := range s.StreamHashes(ctx) {
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(run.Len()).To(BeNumerically(">", 0))
			for i := range run.Len() {
				k, h := run.At(i)
				_, twice := got[string(k)]
				g.Expect(twice).To(BeFalse(), "key %q streamed twice", k)
				got[string(k)] = string(h)
				if len(got) == stopAfter {
					return got
				}
			}
		}
		return got
	}
	g.Expect(stream(0)).To(Equal(want))
	g.Expect(stream(10)).To(HaveLen(10))
	g.Expect(stream(0)).To(Equal(want), "a stream after one stopped early")
	again, err := s.StoredHashes(ctx, keys[:100])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(HaveLen(100 - 100/7))
}
