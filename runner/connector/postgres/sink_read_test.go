package postgres

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSinkReadByKeys: the stored values come back by field name in the types of
// WriteRecord values (int64, bool, time.Time, Decimal for numeric, JSON for jsonb), with
// the stored source updatedAt; a key without a row is absent.
func TestSinkReadByKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := newSink(t, newDB(t, contactsTable), 1_000_000, DeleteSoft, SinkOptions{})
	rec := connector.WriteRecord{Key: "c1", SourceID: "1", SourceUpdatedAt: tN(1), Values: map[string]any{
		"email": "a@example.com", "name": "Ann", "score": int64(7), "amount": connector.Decimal("12.30"),
		"vip": true, "born": tN(0), "doc": connector.JSON(`{"a": [1, 2]}`),
	}}
	res, err := s.Upsert(ctx, []connector.WriteRecord{rec})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res[0].Outcome).To(Equal(connector.Written))

	got, err := s.ReadByKeys(ctx, []string{"c1", "missing"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(1))
	g.Expect(got[0].Key).To(Equal("c1"))
	g.Expect(got[0].SourceUpdatedAt).To(Equal(tN(1).Truncate(1000)))
	g.Expect(got[0].Values).To(Equal(map[string]any{
		"email": "a@example.com", "name": "Ann", "score": int64(7), "amount": connector.Decimal("12.3000000000"),
		"vip": true, "born": tN(0).Truncate(1000), "doc": connector.JSON(`{"a": [1, 2]}`),
	}))
	none, err := s.ReadByKeys(ctx, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none).To(BeEmpty())
}
