package postgres

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

// TestVersionDigestsMatchTheVersionCheck: a source's version digest (VersionDigest) and a
// sink's (StoredVersionDigest) over a time range are equal exactly when the pairs the
// version scan would compare are equal: the keys ScanVersions' records map to (prefix +
// the field's text), each with its updatedAt, and the live keys StoredVersionsBetween
// reads, each with its stored version. Integer, text and uuid key fields, a prefix, a
// char(n) key column, a version 1 µs off, a record the sink lacks, one more live key in
// the range, one marked deleted (not live under SoftDelete only), a NULL stored version,
// a row outside the range (left out); the seeds change the digest.
func TestVersionDigestsMatchTheVersionCheck(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const u1, u2 = "0b6f2d1e-8c4a-4f8e-9d2b-7a1c3e5f9a01", "f3e2d1c0-b9a8-4765-8432-10fedcba9876"
	at := func(i int) string { return fmt.Sprintf("2024-03-31 00:00:%02d.%06d+00", i, i) }
	// sinkTable makes a sink of key/version pairs; a version "!…" marks the row deleted.
	sinkTable := func(name, keyType string, pairs ...string) []string {
		vals := make([]string, 0, len(pairs)/2)
		for i := 0; i < len(pairs); i += 2 {
			v, dl := pairs[i+1], "NULL"
			if strings.HasPrefix(v, "!") {
				v, dl = v[1:], "now()"
			}
			if v != "NULL" {
				v = "'" + v + "'"
			}
			vals = append(vals, fmt.Sprintf("('%s', %s, %s)", pairs[i], v, dl))
		}
		return []string{
			fmt.Sprintf(`CREATE TABLE %s (k %s NOT NULL UNIQUE, email text, source_updated_at timestamptz, deleted_at timestamptz)`, name, keyType),
			fmt.Sprintf(`CREATE INDEX ON %s (source_updated_at)`, name),
			fmt.Sprintf(`INSERT INTO %s (k, source_updated_at, deleted_at) VALUES %s`, name, strings.Join(vals, ", ")),
		}
	}
	setup := []string{
		`CREATE TABLE src (id bigint PRIMARY KEY, t text, u uuid, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO src VALUES (1, 'a', '%s', '%s'), (2, 'b', '%s', '%s'), (30, 'c', NULL, '%s'), (4, 'd', NULL, '2024-03-31 05:00:00+00')`,
			u1, at(1), u2, at(2), at(3)),
	}
	setup = append(setup, sinkTable("same", "text", "1", at(1), "2", at(2), "30", at(3))...)
	setup = append(setup, sinkTable("outside", "text", "1", at(1), "2", at(2), "30", at(3), "4", "2024-03-31 05:00:00+00", "5", "2024-03-30 00:00:00+00")...)
	setup = append(setup, sinkTable("chars", "char(6)", "1", at(1), "2", at(2), "30", at(3))...)
	setup = append(setup, sinkTable("prefixed", "text", "inv_1", at(1), "inv_2", at(2), "inv_30", at(3))...)
	setup = append(setup, sinkTable("texts", "varchar(10)", "a", at(1), "b", at(2), "c", at(3))...)
	setup = append(setup, sinkTable("uuids", "text", u1, at(1), u2, at(2))...)
	setup = append(setup, sinkTable("micro", "text", "1", at(1), "2", "2024-03-31 00:00:02.000003+00", "30", at(3))...)
	setup = append(setup, sinkTable("lacks", "text", "1", at(1), "30", at(3))...)
	setup = append(setup, sinkTable("extra", "text", "1", at(1), "2", at(2), "30", at(3), "9", at(4))...)
	setup = append(setup, sinkTable("marked", "text", "1", at(1), "2", at(2), "30", at(3), "9", "!"+at(4))...)
	setup = append(setup, sinkTable("nullver", "text", "1", at(1), "2", "NULL", "30", at(3))...)
	dsn := newDB(t, setup...)

	src, err := NewSource(ctx, SourceConfig{Table: "src", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	from, to := time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 31, 0, 1, 0, 0, time.UTC)
	scanned, err := src.ScanVersions(ctx, cursor.Cursor{UpdatedAt: from}, cursor.Cursor{UpdatedAt: to, ID: "999999"}, []string{"t", "u"}, 100)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(scanned.Records).To(HaveLen(3))
	seeds := [2]int64{-7305185223372036854, 4121}
	var equal []string
	for _, name := range []string{"same", "outside", "chars", "prefixed", "texts", "uuids", "micro", "lacks", "extra", "marked", "nullver"} {
		for _, mode := range []DeleteMode{DeleteSoft, DeleteHard} {
			s, err := NewSink(ctx, SinkConfig{Table: name, KeyColumn: "k", Fields: []string{"email"}, SourceUpdatedAtColumn: "source_updated_at",
				CopyThreshold: 1000, DeleteMode: mode, DeleteColumn: "deleted_at"}, dsn, SinkOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			held, complete, err := s.StoredVersionsBetween(ctx, from, to, 100)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(complete).To(BeTrue())
			sd, err := s.StoredVersionDigest(ctx, from, to, seeds)
			g.Expect(err).NotTo(HaveOccurred())
			for _, f := range []struct{ field, prefix string }{{"id", ""}, {"t", ""}, {"u", ""}, {"id", "inv_"}} {
				want := map[string]time.Time{} // the pairs the version scan compares
				for _, rec := range scanned.Records {
					v := rec.ID
					if f.field != "id" {
						x, ok := rec.Fields[f.field].(string)
						if !ok {
							continue // a NULL key: no pair (the digest counts the record)
						}
						v = x
					}
					want[f.prefix+v] = rec.UpdatedAt
				}
				dd, err := src.VersionDigest(ctx, f.field, f.prefix, from, to, seeds)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(dd.Keys).To(Equal(int64(3)), "every record in the range is counted")
				same := len(want) == 3 && maps.EqualFunc(want, held, time.Time.Equal)
				g.Expect(dd.Equal(sd)).To(Equal(same), "%s%s vs %s/%s: %v vs %v", f.prefix, f.field, name, mode, want, held)
				if same {
					equal = append(equal, f.prefix+f.field+" = "+name+"/"+string(mode))
				}
			}
		}
	}
	g.Expect(equal).To(ConsistOf(
		"id = same/SoftDelete", "id = same/Delete", "id = outside/SoftDelete", "id = outside/Delete",
		"id = chars/SoftDelete", "id = chars/Delete", "id = marked/SoftDelete",
		"inv_id = prefixed/SoftDelete", "inv_id = prefixed/Delete",
		"t = texts/SoftDelete", "t = texts/Delete",
	), "the pairs the version scan would find all equal")

	s, err := NewSink(ctx, SinkConfig{Table: "same", KeyColumn: "k", Fields: []string{"email"}, SourceUpdatedAtColumn: "source_updated_at",
		CopyThreshold: 1000, DeleteMode: DeleteHard}, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	a, err := s.StoredVersionDigest(ctx, from, to, seeds)
	g.Expect(err).NotTo(HaveOccurred())
	b, err := s.StoredVersionDigest(ctx, from, to, [2]int64{seeds[0], seeds[1] + 1})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Digest).NotTo(Equal(b.Digest), "the digest depends on the seeds")
	g.Expect(a.Method).To(Equal(versionDigestMethod + "UTF8"))
	k, err := s.KeyDigest(ctx, seeds)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k.Equal(a)).To(BeFalse(), "a version digest never equals a key digest")
}

// TestVersionDigestsNeedTheirColumns: a source whose updated_at column has no zone (its
// positions are the runner's conversion) and a sink without the index on its source
// updated-at column (the range would read the whole table) do not digest: the version
// scan decides.
func TestVersionDigestsNeedTheirColumns(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE src (id bigint PRIMARY KEY, updated_at timestamp NOT NULL)`,
		`CREATE TABLE crm (k text NOT NULL UNIQUE, email text, source_updated_at timestamptz)`)
	src, err := NewSource(ctx, SourceConfig{Table: "src", UpdatedAtColumn: "updated_at", IDColumn: "id", TimeZone: "Europe/Berlin"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	now := time.Now()
	_, err = src.VersionDigest(ctx, "id", "", now.Add(-time.Hour), now, [2]int64{1, 2})
	g.Expect(err).To(MatchError(ContainSubstring(`updated_at column "updated_at" is not timestamptz`)))

	s, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, SourceUpdatedAtColumn: "source_updated_at",
		CopyThreshold: 1000, DeleteMode: DeleteHard}, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	_, err = s.StoredVersionDigest(ctx, now.Add(-time.Hour), now, [2]int64{1, 2})
	g.Expect(err).To(MatchError(ContainSubstring(`no index on column "source_updated_at"`)))
}
