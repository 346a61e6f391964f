package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSinkStoredVersionsBetween: with an index on the source updated-at column, the range
// read returns, by key, the stored version of every live row whose version lies in the
// closed range (as stored: microseconds, UTC) — a soft-deleted row is absent, as from
// StoredVersions — and reports an incomplete answer, with no versions, when more rows than
// the limit lie in it. Without the index nothing is read: the answer is incomplete.
func TestSinkStoredVersionsBetween(t *testing.T) {
	ctx := context.Background()
	write := func(g Gomega, s *Sink) {
		gone := contact("d", tN(3), "d@x")
		gone.Deleted = true
		for _, batch := range [][]connector.WriteRecord{
			{contact("a", tN(1), "a@x"), contact("b", tN(2), "b@x"), contact("c", tN(2), "c@x"), contact("d", tN(2), "d@x"), contact("e", tN(4), "e@x")},
			{gone},
		} {
			_, err := s.Upsert(ctx, batch)
			g.Expect(err).NotTo(HaveOccurred())
		}
	}

	t.Run("indexed", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newDB(t, contactsTable, `CREATE INDEX ON contacts (source_updated_at) WHERE deleted_at IS NULL`)
		s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
		write(g, s)
		got, complete, err := s.StoredVersionsBetween(ctx, tN(2), tN(3), 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(complete).To(BeTrue())
		g.Expect(got).To(Equal(map[string]time.Time{"b": tN(2).Truncate(time.Microsecond), "c": tN(2).Truncate(time.Microsecond)}))
		g.Expect(got["b"].Location()).To(Equal(time.UTC))
		byKey, err := s.StoredVersions(ctx, []string{"b", "c", "d"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(byKey).To(Equal(got), "the same answer as the lookup by key")

		got, complete, err = s.StoredVersionsBetween(ctx, tN(1), tN(4), 4)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(complete).To(BeTrue(), "four live rows fit a limit of four")
		g.Expect(got).To(HaveLen(4))
		got, complete, err = s.StoredVersionsBetween(ctx, tN(1), tN(4), 3)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(complete).To(BeFalse())
		g.Expect(got).To(BeNil())
	})

	t.Run("no index", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newDB(t, contactsTable)
		s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
		write(g, s)
		got, complete, err := s.StoredVersionsBetween(ctx, tN(1), tN(4), 100)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(complete).To(BeFalse(), "without the index a range would read the whole table")
		g.Expect(got).To(BeNil())
	})
}
