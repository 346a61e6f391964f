package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestKeyDigestsMatchTheListings: a source field's digest (FieldDigest) and a sink's key
// digest (KeyDigest) are equal exactly when the listings the merge would read
// (PrefixedFieldValues, Keys) hold the same keys: integer ids of any width and their
// text, char(n) (its text drops the padding), a prefix, rows soft-deleted in the sink
// (left out under SoftDelete only), a uuid and its upper-case text (different keys), a
// key in a case-insensitive collation on either side (hashed as bytes: "A" is not "a"), a key more on
// one side, a leading zero. The seeds change the digest.
func TestKeyDigestsMatchTheListings(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const u1, u2 = "0b6f2d1e-8c4a-4f8e-9d2b-7a1c3e5f9a01", "f3e2d1c0-b9a8-4765-8432-10fedcba9876"
	sinkTable := func(name, keyType string, keys ...string) []string {
		vals := make([]string, len(keys))
		for i, k := range keys {
			dl := "NULL"
			if strings.HasSuffix(k, "!") { // marked deleted
				k, dl = strings.TrimSuffix(k, "!"), "now()"
			}
			vals[i] = fmt.Sprintf("('%s', now(), %s)", k, dl)
		}
		return []string{
			fmt.Sprintf(`CREATE TABLE %s (k %s NOT NULL UNIQUE, email text, source_updated_at timestamptz, deleted_at timestamptz)`, name, keyType),
			fmt.Sprintf(`INSERT INTO %s (k, source_updated_at, deleted_at) VALUES %s`, name, strings.Join(vals, ", ")),
		}
	}
	setup := []string{
		`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`CREATE TABLE src (id bigint PRIMARY KEY, i4 int4, t text, c char(6), z text, u uuid, uu text, a text, ac text COLLATE ci, updated_at timestamptz NOT NULL)`,
		`INSERT INTO src VALUES
			(-5, -5, '-5', '-5', '-05', '` + u1 + `', '` + strings.ToUpper(u1) + `', 'a', 'a', now()),
			(0, 0, '0', '0', '0', '` + u2 + `', '` + strings.ToUpper(u2) + `', NULL, NULL, now()),
			(7, 7, '7', '7', '7', NULL, NULL, NULL, NULL, now()),
			(10, 10, '10', '10', '10', NULL, NULL, NULL, NULL, now()),
			(123, 123, '123', '123', '123', NULL, NULL, NULL, NULL, now())`,
	}
	setup = append(setup, sinkTable("plain", "text", "-5", "0", "7", "10", "123")...)
	setup = append(setup, sinkTable("marked", "varchar(40)", "-5", "0", "7", "10", "123", "999!")...)
	setup = append(setup, sinkTable("extra", "text", "-5", "0", "7", "10", "123", "999")...)
	setup = append(setup, sinkTable("prefixed", "text", "inv_-5", "inv_0", "inv_7", "inv_10", "inv_123")...)
	setup = append(setup, sinkTable("uuids", "text", u1, u2)...)
	setup = append(setup, sinkTable("upper", `text COLLATE ci`, "A")...)
	setup = append(setup, sinkTable("lower", "text", "a")...)
	dsn := newDB(t, setup...)

	src, err := NewSource(ctx, SourceConfig{Table: "src", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	type sink struct {
		name string
		s    *Sink
	}
	var sinks []sink
	for _, name := range []string{"plain", "marked", "extra", "prefixed", "uuids", "upper", "lower"} {
		for _, mode := range []DeleteMode{DeleteSoft, DeleteHard} {
			s, err := NewSink(ctx, SinkConfig{Table: name, KeyColumn: "k", Fields: []string{"email"}, SourceUpdatedAtColumn: "source_updated_at",
				CopyThreshold: 1000, DeleteMode: mode, DeleteColumn: "deleted_at"}, dsn, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			sinks = append(sinks, sink{name + "/" + string(mode), s})
		}
	}

	seeds := [2]int64{-7305185223372036854, 4121}
	var equal []string
	for _, f := range []struct{ field, prefix string }{
		{"id", ""}, {"i4", ""}, {"t", ""}, {"c", ""}, {"z", ""}, {"u", ""}, {"uu", ""}, {"a", ""}, {"ac", ""}, {"id", "inv_"}, {"t", "inv_"},
	} {
		srcKeys := collect2(g, src.PrefixedFieldValues(ctx, f.field, f.prefix, ""))
		sd, err := src.FieldDigest(ctx, f.field, f.prefix, seeds)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sd.Keys).To(Equal(int64(len(srcKeys))))
		for _, k := range sinks {
			sinkKeys := collect2(g, k.s.Keys(ctx, ""))
			kd, err := k.s.KeyDigest(ctx, seeds)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(kd.Keys).To(Equal(int64(len(sinkKeys))))
			same := slices.Equal(srcKeys, sinkKeys)
			g.Expect(sd.Equal(kd)).To(Equal(same), "%s%s %v vs %s %v: digests %v, %v", f.prefix, f.field, srcKeys, k.name, sinkKeys, sd, kd)
			if same {
				equal = append(equal, f.prefix+f.field+" = "+k.name)
			}
		}
	}
	g.Expect(equal).To(ConsistOf(
		"id = plain/Delete", "id = plain/SoftDelete", "id = marked/SoftDelete",
		"i4 = plain/Delete", "i4 = plain/SoftDelete", "i4 = marked/SoftDelete",
		"t = plain/Delete", "t = plain/SoftDelete", "t = marked/SoftDelete",
		"c = plain/Delete", "c = plain/SoftDelete", "c = marked/SoftDelete",
		"u = uuids/Delete", "u = uuids/SoftDelete",
		"a = lower/Delete", "a = lower/SoftDelete", "ac = lower/Delete", "ac = lower/SoftDelete",
		"inv_id = prefixed/Delete", "inv_id = prefixed/SoftDelete",
		"inv_t = prefixed/Delete", "inv_t = prefixed/SoftDelete",
	), "the pairs whose listings are equal")

	a, err := sinks[0].s.KeyDigest(ctx, seeds)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := sinks[0].s.KeyDigest(ctx, [2]int64{seeds[0] + 1, seeds[1]})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Keys).To(Equal(b.Keys))
	g.Expect(a.Digest).NotTo(Equal(b.Digest), "the digest depends on the seeds")
	g.Expect(a.Method).To(Equal(keyDigestMethod + "UTF8"))
}

// TestKeyDigestsOfOtherEncodingsDiffer: equal keys in databases of different encodings
// (UTF8 and LATIN1) list alike but never digest alike (their bytes may differ): the keys
// are merged.
func TestKeyDigestsOfOtherEncodingsDiffer(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const table = `CREATE TABLE crm (k text NOT NULL UNIQUE, email text, source_updated_at timestamptz)`
	const rows = `INSERT INTO crm (k, source_updated_at) VALUES ('é', now()), ('b', now())`
	utf8 := newDB(t, table, rows)
	exec(t, utf8, `CREATE DATABASE latin1_keys ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`)
	latin1 := server.DSN("latin1_keys")
	exec(t, latin1, table, rows)
	var ds []connector.KeyDigest
	var lists [][]string
	for _, dsn := range []string{utf8, latin1} {
		s, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, SourceUpdatedAtColumn: "source_updated_at",
			CopyThreshold: 1000, DeleteMode: DeleteHard}, dsn, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		d, err := s.KeyDigest(ctx, [2]int64{1, 2})
		g.Expect(err).NotTo(HaveOccurred())
		ds = append(ds, d)
		lists = append(lists, collect2(g, s.Keys(ctx, "")))
	}
	g.Expect(lists[0]).To(Equal([]string{"b", "é"}))
	g.Expect(lists[1]).To(Equal(lists[0]))
	g.Expect(ds[0].Keys).To(Equal(ds[1].Keys))
	g.Expect(ds[1].Method).To(Equal(keyDigestMethod + "LATIN1"))
	g.Expect(ds[0].Equal(ds[1])).To(BeFalse())
}
