package postgres

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSinkStoredVersions: the version lookup returns the stored source updatedAt of each
// key with a live row, as stored (microseconds, UTC); a key without a row and a
// soft-deleted row are absent. A sink storing no source version cannot read versions.
func TestSinkStoredVersions(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)
	s := newSink(t, dsn, 1_000_000, DeleteSoft, SinkOptions{})
	gone := contact("c", tN(3), "c@x")
	gone.Deleted = true
	res, err := s.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a@x"), contact("b", tN(2), "b@x"), contact("c", tN(2), "c@x")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written, connector.Written}))
	res, err = s.Upsert(ctx, []connector.WriteRecord{gone})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written}))

	g.Expect(s.CanReadVersions()).To(BeTrue())
	got, err := s.StoredVersions(ctx, []string{"a", "b", "c", "missing"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(map[string]time.Time{"a": tN(1).Truncate(time.Microsecond), "b": tN(2).Truncate(time.Microsecond)}))
	g.Expect(got["a"].Location()).To(Equal(time.UTC))
	none, err := s.StoredVersions(ctx, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none).To(BeEmpty())

	cfg := contactsConfig(1_000_000, DeleteIgnore)
	exec(t, dsn, `ALTER TABLE contacts ADD COLUMN row_hash text`)
	cfg.Unversioned, cfg.SourceUpdatedAtColumn, cfg.HashColumn = true, "", "row_hash"
	snap, err := NewSink(ctx, cfg, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer snap.Close()
	g.Expect(snap.CanReadVersions()).To(BeFalse())
	_, err = snap.StoredVersions(ctx, []string{"a"})
	g.Expect(err).To(MatchError(ContainSubstring("stores no source version")))
}

// TestSinkCountAdvice: without an index leading with the source updated-at column, the
// sink advises one, naming the table, the column and the statement, which includes the key
// column; an index on the column (with or without the key), or one limited to live rows
// under SoftDelete, silences it; an index with the column second, or limited by another
// predicate, does not.
func TestSinkCountAdvice(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		mode  DeleteMode
		index string
		ok    bool
	}{
		{name: "no index", mode: DeleteIgnore},
		{name: "column second", mode: DeleteIgnore, index: `CREATE INDEX ON contacts (email, source_updated_at)`},
		{name: "other predicate", mode: DeleteSoft, index: `CREATE INDEX ON contacts (source_updated_at) WHERE vip`},
		{name: "index", mode: DeleteIgnore, index: `CREATE INDEX ON contacts (source_updated_at)`, ok: true},
		{name: "key included", mode: DeleteIgnore, index: `CREATE INDEX ON contacts (source_updated_at) INCLUDE (ext_id)`, ok: true},
		{name: "two columns", mode: DeleteIgnore, index: `CREATE INDEX ON contacts (source_updated_at, ext_id)`, ok: true},
		{name: "live rows", mode: DeleteSoft, index: `CREATE INDEX ON contacts (source_updated_at) WHERE deleted_at IS NULL`, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, contactsTable)
			if tc.index != "" {
				exec(t, dsn, tc.index)
			}
			s := newSink(t, dsn, 1_000_000, tc.mode, SinkOptions{})
			advice, err := s.CountAdvice(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.ok {
				g.Expect(advice).To(BeEmpty())
				return
			}
			g.Expect(advice).To(ContainSubstring(`sink table "contacts"`))
			g.Expect(advice).To(ContainSubstring(`column "source_updated_at"`))
			g.Expect(advice).To(HaveSuffix(`CREATE INDEX ON "contacts" ("source_updated_at") INCLUDE ("ext_id")`))
		})
	}
}
