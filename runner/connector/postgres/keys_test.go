package postgres

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func collect2(g Gomega, seq iter.Seq2[string, error]) []string {
	out := []string{}
	for k, err := range seq {
		g.Expect(err).NotTo(HaveOccurred())
		out = append(out, k)
	}
	return out
}

// TestSinkKeysInByteOrderWhateverTheCollation: the key column's collation (ICU root: a < B)
// does not change the listing order: bytes (B < a, billing:10 < billing:9), as Go compares;
// the whole listing (after "") includes an empty key.
func TestSinkKeysInByteOrderWhateverTheCollation(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, `CREATE TABLE contacts (
		ext_id text COLLATE "und-x-icu" NOT NULL UNIQUE, email text, name varchar(10), score int,
		amount numeric(30,10), vip boolean, born timestamptz, doc jsonb,
		source_updated_at timestamptz NOT NULL, synced_at timestamptz, run_id text, deleted_at timestamptz)`,
		`INSERT INTO contacts (ext_id, source_updated_at) VALUES ('a', now()), ('B', now()), ('billing:9', now()), ('billing:10', now()), ('é', now()), ('', now())`)
	s := newSink(t, dsn, 1000, DeleteHard, SinkOptions{})
	g.Expect(collect2(g, s.Keys(context.Background(), ""))).To(Equal([]string{"", "B", "a", "billing:10", "billing:9", "é"}), "the whole listing, the empty key included")
	g.Expect(collect2(g, s.Keys(context.Background(), "a"))).To(Equal([]string{"billing:10", "billing:9", "é"}))
}

// TestSinkDeleteKeys: hard deletes remove rows not newer than the deletion time; soft
// deletes only set the soft-delete column; newer rows are Stale, missing ones Unchanged.
func TestSinkDeleteKeys(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []DeleteMode{DeleteHard, DeleteSoft, DeleteIgnore} {
		t.Run(string(mode), func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, contactsTable)
			s := newSink(t, dsn, 1000, mode, SinkOptions{})
			_, err := s.Upsert(ctx, []connector.WriteRecord{contact("k1", tN(1), "a@x"), contact("k2", tN(1), "b@x"), contact("k3", tN(9), "c@x")})
			g.Expect(err).NotTo(HaveOccurred())
			res, err := s.DeleteKeys(ctx, dels(tN(5), "k1", "k3", "nope"))
			g.Expect(err).NotTo(HaveOccurred())
			switch mode {
			case DeleteIgnore:
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged, connector.Unchanged, connector.Unchanged}))
				g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal([]string{"k1", "k2", "k3"}))
				return
			case DeleteHard:
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Stale, connector.Unchanged}))
				g.Expect(countRows(t, dsn, "k1")).To(BeZero())
			case DeleteSoft:
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Stale, connector.Unchanged}))
				g.Expect(countRows(t, dsn, "k1")).To(Equal(1))
				var email string
				g.Expect(query(t, dsn, `SELECT email FROM contacts WHERE ext_id = 'k1' AND deleted_at IS NOT NULL`, &email)).To(Succeed())
				g.Expect(email).To(Equal("a@x"), "a soft delete leaves the other fields alone")
				res, err = s.DeleteKeys(ctx, dels(tN(6), "k1"))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged}), "already marked")
				// A marked row comes back when the source writes it again.
				_, err = s.Upsert(ctx, []connector.WriteRecord{contact("k1", tN(7), "a@x")})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal([]string{"k1", "k2", "k3"}))
				return
			}
			g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal([]string{"k2", "k3"}))
		})
	}
}

// TestSourceListsFieldValuesInByteOrder: integer ids are listed in byte order of their text (10 < 9); a
// column whose text form is not the mapping's is refused.
func TestSourceListsFieldValuesInByteOrder(t *testing.T) {
	g := NewWithT(t)
	dsn := newDB(t, `CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric, updated_at timestamptz NOT NULL)`,
		`INSERT INTO items SELECT i, 'n' || i, i, now() FROM generate_series(1, 12) AS i`)
	src, err := NewSource(context.Background(), SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	g.Expect(collect2(g, src.FieldValues(context.Background(), "id", ""))).To(Equal([]string{"1", "10", "11", "12", "2", "3", "4", "5", "6", "7", "8", "9"}))
	g.Expect(collect2(g, src.FieldValues(context.Background(), "id", "2"))).To(Equal([]string{"3", "4", "5", "6", "7", "8", "9"}))
	for _, bad := range []string{"price", "nope"} {
		for _, err := range src.FieldValues(context.Background(), bad, "") {
			g.Expect(err).To(MatchError(ContainSubstring(`list values of column "` + bad + `"`)))
		}
	}
}

// dels are deletes of keys at one time.
func dels(at time.Time, keys ...string) []connector.KeyDelete {
	out := make([]connector.KeyDelete, len(keys))
	for i, k := range keys {
		out[i] = connector.KeyDelete{Key: k, At: at}
	}
	return out
}

// countRows counts the contacts with key k.
func countRows(t *testing.T, dsn, k string) int {
	t.Helper()
	var n int
	NewWithT(t).Expect(query(t, dsn, `SELECT count(*) FROM contacts WHERE ext_id = '`+k+`'`, &n)).To(Succeed())
	return n
}

// query scans the single row of q into dst.
func query(t *testing.T, dsn, q string, dst ...any) error {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), q).Scan(dst...)
}

// TestSinkCountKeys: a sink counts its keys whatever their stored source version (a
// Snapshot sink stores none, so that the drift check's window count sees none of them);
// under SoftDelete, rows marked deleted are not counted, as they are not listed.
func TestSinkCountKeys(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t, `CREATE TABLE crm (k text PRIMARY KEY, email text, source_updated_at timestamptz, _checkpointed_hash text, deleted_at timestamptz)`,
		`INSERT INTO crm (k, email) SELECT 'k' || i, 'e' FROM generate_series(1, 7) AS i`,
		`INSERT INTO crm (k, source_updated_at, deleted_at) VALUES ('v', now(), NULL), ('gone', now(), now())`)
	base := SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, CopyThreshold: 1000, HashColumn: "_checkpointed_hash"}
	for _, tc := range []struct {
		name string
		cfg  func(SinkConfig) SinkConfig
		want int64
	}{
		{"Snapshot (unversioned), Delete", func(c SinkConfig) SinkConfig { c.Unversioned, c.DeleteMode = true, DeleteHard; return c }, 9},
		{"Snapshot (unversioned), SoftDelete", func(c SinkConfig) SinkConfig {
			c.Unversioned, c.DeleteMode, c.DeleteColumn = true, DeleteSoft, "deleted_at"
			return c
		}, 8},
		{"versioned, Delete", func(c SinkConfig) SinkConfig {
			c.SourceUpdatedAtColumn, c.HashColumn, c.DeleteMode = "source_updated_at", "", DeleteHard
			return c
		}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s, err := NewSink(ctx, tc.cfg(base), dsn, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			n, err := s.CountKeys(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(Equal(tc.want))
			g.Expect(int64(len(collect2(g, s.Keys(ctx, ""))))).To(Equal(tc.want), "as many as listed")
		})
	}
}
