package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestReadByKeys: the sink reads its live rows back by key in the mapping's Go types;
// missing and soft-deleted keys are absent.
func TestReadByKeys(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)
	cfg := contactsConfig(1_000_000, DeleteSoft)
	cfg.FieldTypes = map[string]connector.FieldType{
		"email": connector.TypeString, "score": connector.TypeInt, "amount": connector.TypeDecimal,
		"vip": connector.TypeBool, "born": connector.TypeTimestamp, "doc": connector.TypeJSON,
	}
	sink, err := NewSink(ctx, cfg, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer sink.Close()

	born := time.Date(1990, 3, 4, 5, 6, 7, 891000, time.UTC)
	full := connector.WriteRecord{Key: "a", SourceID: "1", SourceUpdatedAt: tN(1), Values: map[string]any{
		"email": "a@x", "name": nil, "score": int64(7), "amount": connector.Decimal("12.50"), "vip": true,
		"born": born, "doc": connector.JSON(`{"b": [1, 2.0], "a": null}`),
	}}
	gone := contact("b", tN(2), "b@x")
	gone.Deleted = true
	res, err := sink.Upsert(ctx, []connector.WriteRecord{full, contact("c", tN(3), "c@x"), gone})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(HaveEach(connector.Written))

	got, err := sink.ReadByKeys(ctx, []string{"a", "b", "c", "missing"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(2), "b is soft-deleted, missing was never written")
	byKey := map[string]connector.SinkRecord{}
	for _, r := range got {
		byKey[r.Key] = r
	}
	a := byKey["a"]
	g.Expect(a.SourceUpdatedAt).To(Equal(tN(1)))
	g.Expect(a.SourceUpdatedAt.Location()).To(Equal(time.UTC))
	g.Expect(a.Values["email"]).To(Equal("a@x"))
	g.Expect(a.Values["name"]).To(BeNil())
	g.Expect(a.Values["score"]).To(Equal(int64(7)))
	g.Expect(a.Values["amount"]).To(Equal(connector.Decimal("12.5000000000")), "numeric(30,10) keeps its scale")
	g.Expect(a.Values["vip"]).To(Equal(true))
	g.Expect(a.Values["born"]).To(Equal(born))
	g.Expect(a.Values["doc"]).To(BeAssignableToTypeOf(connector.JSON(nil)))
	g.Expect(a.Values).NotTo(HaveKey("deleted_at"))
	g.Expect(byKey["c"].Values["email"]).To(Equal("c@x"))

	none, err := sink.ReadByKeys(ctx, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none).To(BeEmpty())
}

// TestCountWindowLeavesDeletedOut: the source's count leaves out rows its deleted marker
// marks (a timestamp set, a boolean true); the sink's leaves out soft-deleted rows.
func TestCountWindowLeavesDeletedOut(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, deleted_at timestamptz, gone boolean)`,
		`INSERT INTO items VALUES (1, '2026-01-01 00:00:01+00', NULL, NULL), (2, '2026-01-01 00:00:02+00', '2026-01-01 00:00:02+00', false),
		 (3, '2026-01-01 00:00:03+00', NULL, true), (4, '2026-01-01 00:00:04+00', NULL, false), (5, '2026-01-02 00:00:00+00', NULL, NULL)`,
		contactsTable)
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		column string
		want   int64
	}{{"", 4}, {"deleted_at", 3}, {"gone", 3}} {
		src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id", DeletedColumn: tc.column}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		n, err := src.CountWindow(ctx, from, to)
		src.Close()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n).To(Equal(tc.want), "deleted column %q", tc.column)
	}
	_, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id", DeletedColumn: "nope"}, dsn, SourceOptions{})
	g.Expect(err).To(MatchError(ContainSubstring("spec.deletes.sourceField")))

	for _, mode := range []DeleteMode{DeleteIgnore, DeleteSoft} {
		exec(t, dsn, `TRUNCATE contacts`)
		sink := newSink(t, dsn, 1_000_000, mode, SinkOptions{})
		gone := contact("b", tN(2), "")
		gone.Deleted = true
		_, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(1), "b"), contact("c", tN(3), "c")})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = sink.Upsert(ctx, []connector.WriteRecord{gone})
		g.Expect(err).NotTo(HaveOccurred())
		n, err := sink.CountWindow(ctx, tN(0), tN(3))
		g.Expect(err).NotTo(HaveOccurred())
		want := map[DeleteMode]int64{DeleteIgnore: 3, DeleteSoft: 2}[mode]
		g.Expect(n).To(Equal(want), "mode %s", mode)
	}
}
