package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// queryDigests digests the rows of ScanHashed's statement after afterID ("": all) as
// runners before the binary COPY did: the statement run as a query (pgx, result formats
// by type), each row's digest SHA-256 of the seed digest's first 16 bytes (the seed
// digest over the result's field descriptions) and the row's raw values as received. It returns the ids and digests.
func queryDigests(t *testing.T, s *Source, seed, afterID string) ([]string, [][16]byte) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	var rows pgx.Rows
	var err error
	if afterID == "" {
		rows, err = s.pool.Query(ctx, s.hashed.qFirst)
	} else {
		id, perr := s.idArg(afterID)
		g.Expect(perr).NotTo(HaveOccurred())
		rows, err = s.pool.Query(ctx, s.hashed.qAfter, id)
	}
	g.Expect(err).NotTo(HaveOccurred())
	defer rows.Close()
	fds := rows.FieldDescriptions()
	d := sha256.New()
	put := func(b []byte) {
		var n [binary.MaxVarintLen64]byte
		d.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		d.Write(b)
	}
	put([]byte(hashFormat))
	put([]byte(seed))
	put([]byte(s.rel.name))
	for i, c := range s.cols {
		put([]byte(c.name))
		put([]byte(strconv.FormatUint(uint64(c.oid), 10) + "/" + strconv.FormatUint(uint64(fds[i].DataTypeOID), 10) +
			"/" + strconv.Itoa(int(fds[i].Format))))
	}
	if s.zone != nil {
		put([]byte(s.zone.String()))
	}
	put([]byte(strconv.Itoa(s.idIdx)))
	seedSum := d.Sum(nil)
	var ids []string
	var sums [][16]byte
	for rows.Next() {
		raw := rows.RawValues()
		b := append([]byte{}, seedSum[:16]...)
		for _, v := range raw {
			if v == nil {
				b = append(b, 0)
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(v))+1)
			b = append(b, v...)
		}
		id, err := s.appendRawID(nil, fds[s.idIdx], raw[s.idIdx])
		g.Expect(err).NotTo(HaveOccurred())
		ids = append(ids, string(id))
		sum := sha256.Sum256(b)
		sums = append(sums, [16]byte(sum[:16]))
	}
	g.Expect(rows.Err()).NotTo(HaveOccurred())
	return ids, sums
}

// scanHashedAll pages through ScanHashed after afterID with pages of limit rows; it checks
// each page's More (a page short of limit is the last) and returns the ids, digests and
// the records the pages decode.
func scanHashedAll(t *testing.T, s *Source, seed, afterID string, limit int) ([]string, [][16]byte, []connector.Record) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	var ids []string
	var sums [][16]byte
	var recs []connector.Record
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 1000), "paging does not end")
		p, err := s.ScanHashed(ctx, afterID, limit, seed)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(p.IDs)).To(BeNumerically("<=", limit))
		g.Expect(p.Sums).To(HaveLen(len(p.IDs)))
		for i := range p.IDs {
			rec, err := p.Record(i)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rec.ID).To(Equal(p.IDs[i]))
			recs = append(recs, rec)
		}
		ids, sums = append(ids, p.IDs...), append(sums, p.Sums...)
		p.Release() // later pages reuse its memory: what was read of it stays as read
		if len(p.IDs) < limit {
			g.Expect(p.More).To(BeFalse(), "a short page is the last")
		}
		if !p.More {
			return ids, sums, recs
		}
		g.Expect(p.IDs).NotTo(BeEmpty(), "a page with More has rows")
		afterID = p.IDs[len(p.IDs)-1]
	}
}

// kindsDDL is a table holding every kind of built-in column a source reads: those
// selected as they are (integers, floats, bool, date, timestamps) and those selected as
// text (numeric, json, uuid, bytea, arrays, intervals, char), with NULLs, empty and
// non-ASCII text, and values whose text needs escaping in a text COPY.
const kindsDDL = `CREATE TABLE kinds (id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision,
  b boolean, d date, ts timestamp, tz timestamptz, t text, vc varchar(20), n numeric(14,4), j jsonb, js json, u uuid,
  by bytea, arr integer[], iv interval, ch char(3), tarr text[]);
INSERT INTO kinds VALUES
  (1, 1, 2, 1.5, 2.25, true, '2024-02-29', '2024-03-31 02:30:00.123456', '2024-01-01 00:00:00.000001+00', 'plain',
   'vc', 12.3400, '{"a": [1, 2.50, "x"]}', '{"b" : 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10',
   '{1,NULL,3}', '1 day 02:03:04.5', 'ab', '{"a b","c\"d",NULL}'),
  (2, -32768, -2147483648, 'NaN', '-Infinity', false, '0001-01-01', '1970-01-01 00:00:00', '1900-01-01 00:00:00+05:30',
   E'tab\there\nnew\\line', '', -0.0001, '[]', '""', '00000000-0000-0000-0000-000000000000', '',
   '{}', '-1 mon', '', '{}'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 32767, 2147483647, 3.4e38, 1e-300, true, '4713-01-01 BC', '294276-12-31 23:59:59.999999',
   '2038-01-19 03:14:08+00', 'é日本 ü', 'x''y', 99999999.9999, 'null', 'null', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
   '\x5c4e', '{{1,2},{3,4}}', '0', 'é', '{"\\N"}');
INSERT INTO kinds (id, t, n) SELECT g, 'row ' || g, g / 7.0 FROM generate_series(5, 40) g`

// customDDL adds columns of types made in the database (a domain, an enum): their type
// ids, which the digests' seed covers, depend on the cluster's history.
const customDDL = `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
ALTER TABLE kinds ADD COLUMN dom posint, ADD COLUMN e mood;
UPDATE kinds SET dom = id, e = (ARRAY['sad', 'ok', 'happy'])[1 + id % 3]::mood WHERE id <> 3`

// TestScanHashedDigestsEqualQueryRows: the digests of ScanHashed, read by binary COPY,
// are those of the rows read as query results (queryDigests), for every kind of column,
// from the first row and after any id of an integer, text or uuid id column (the id
// written in the statement as a literal: quotes, backslashes, non-ASCII), in pages of any
// size; each page decodes to the records ScanPage reads; and a fixed table's digests are
// still those runners stored before the COPY (golden), so that sinks filled by them see
// no change.
func TestScanHashedDigestsEqualQueryRows(t *testing.T) {
	ctx := context.Background()
	const seed = "fp-compat"
	compare := func(t *testing.T, s *Source, afters []string) {
		g := NewWithT(t)
		page, err := s.ScanPage(ctx, "", 10000)
		g.Expect(err).NotTo(HaveOccurred())
		for _, after := range afters {
			wantIDs, wantSums := queryDigests(t, s, seed, after)
			if after == "" {
				g.Expect(wantIDs).To(HaveLen(len(page.Records)))
			}
			for _, limit := range []int{1, 3, 1000} {
				ids, sums, recs := scanHashedAll(t, s, seed, after, limit)
				g.Expect(ids).To(Equal(wantIDs), "after %q, pages of %d", after, limit)
				g.Expect(sums).To(Equal(wantSums), "after %q, pages of %d", after, limit)
				// Compared as printed: a NaN is not equal to itself.
				g.Expect(fmt.Sprint(recs)).To(Equal(fmt.Sprint(page.Records[len(page.Records)-len(recs):])), "after %q, pages of %d", after, limit)
			}
		}
		s.EndScan()
	}

	t.Run("every kind of column", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newDB(t, kindsDDL)
		s, err := NewSource(ctx, SourceConfig{Table: "kinds", IDColumn: "id", ScanOnly: true, TimeZone: "Europe/Paris"}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		compare(t, s, []string{"", "1", "3", "39", "40", "-5"})

		// Golden: SHA-256 of every row's digest in order, in hashFormat v2 (the seed
		// digest's first 16 bytes before each row; v1, with all 32, gave 1c979018…, as the
		// runner before the binary COPY computed them, commit 3b5ff3c), which queryDigests
		// also computes from query rows. Built-in types only: their type ids are fixed.
		_, sums, _ := scanHashedAll(t, s, seed, "", 7)
		all := sha256.New()
		for _, sum := range sums {
			all.Write(sum[:])
		}
		g.Expect(hex.EncodeToString(all.Sum(nil))).To(Equal(goldenKindsDigest))
	})

	t.Run("types made in the database", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newDB(t, kindsDDL, customDDL)
		s, err := NewSource(ctx, SourceConfig{Table: "kinds", IDColumn: "id", ScanOnly: true, TimeZone: "Europe/Paris"}, dsn, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		compare(t, s, []string{"", "2", "40"})
	})

	for _, tc := range []struct {
		name, idType string
		ids          []string
	}{
		{"smallint ids", "smallint", []string{"-3", "0", "7", "12"}},
		{"integer ids", "integer", []string{"-2147483648", "5", "2147483647"}},
		{"text ids", "text", []string{"", "'", "''", `\`, `\'`, "a b", "é", "Z", "a\tb", "x'); DROP TABLE items; --"}},
		{"varchar ids", "varchar(40)", []string{`E'\\x'`, "b", "é"}},
		{"uuid ids", "uuid", []string{"0a000000-0000-0000-0000-000000000000", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "f0000000-0000-0000-0000-000000000001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, fmt.Sprintf(`CREATE TABLE items (id %s PRIMARY KEY, name text, n numeric)`, tc.idType))
			conn, err := pgx.Connect(ctx, dsn)
			g.Expect(err).NotTo(HaveOccurred())
			for i, id := range tc.ids {
				_, err := conn.Exec(ctx, `INSERT INTO items VALUES ($1, $2, $3)`, id, fmt.Sprint("name ", i), i)
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(conn.Close(ctx)).To(Succeed())
			s, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, dsn, SourceOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			all, _ := queryDigests(t, s, seed, "")
			g.Expect(all).To(HaveLen(len(tc.ids)))
			compare(t, s, append([]string{""}, all...))
		})
	}
}

// TestScanHashedPageRelease: a page released (HashedPage.Release) lends its memory to a
// later page, once however often it is released, and decodes no record any more; the id
// strings read from it stay as they were.
func TestScanHashedPageRelease(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	dsn := newDB(t, `CREATE TABLE items (id bigint PRIMARY KEY, name text)`,
		`INSERT INTO items SELECT g, 'name ' || g FROM generate_series(1, 20) g`)
	s, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	defer s.EndScan()
	wantIDs, wantSums := queryDigests(t, s, "seed", "")

	p1, err := s.ScanHashed(ctx, "", 3, "seed")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p1.Sums).To(Equal(wantSums[:3]))
	first := &p1.Sums[0]
	ids1, idStrings := p1.IDs[:3:3], slices.Clone(p1.IDs)
	p1.Release()
	p1.Release() // once is enough: the memory is lent once
	_, err = p1.Record(0)
	g.Expect(err).To(MatchError(ContainSubstring("released")))

	p2, err := s.ScanHashed(ctx, "3", 3, "seed")
	g.Expect(err).NotTo(HaveOccurred())
	p3, err := s.ScanHashed(ctx, "6", 3, "seed")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(&p2.Sums[0]).To(BeIdenticalTo(first), "the page after reuses the memory released")
	g.Expect(&p3.Sums[0]).NotTo(BeIdenticalTo(first), "a page released twice is lent once")
	g.Expect(p2.Sums).To(Equal(wantSums[3:6]))
	g.Expect(p3.Sums).To(Equal(wantSums[6:9]))
	rec, err := p2.Record(2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rec.Fields["name"]).To(Equal("name 6"))
	g.Expect(&p2.IDs[0]).To(BeIdenticalTo(&ids1[0]), "the ids' slice is reused too")
	g.Expect(ids1[0]).To(Equal(wantIDs[3]), "the slice, not the strings read from it")
	g.Expect(idStrings).To(Equal(wantIDs[:3]), "the id strings read stay valid")
}

// goldenKindsDigest is TestScanHashedDigestsEqualQueryRows's golden value.
const goldenKindsDigest = "61ce0e9ce98514362755cc367d8595a288f4a244007fedd8ca0d597e90506d40"
