package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
)

// copyStream encodes rows as a binary COPY stream (nil: NULL), with a header extension.
func copyStream(rows [][][]byte) []byte {
	var b bytes.Buffer
	b.Write(copySignature)
	b.Write([]byte{0, 0, 0, 0})                // flags
	b.Write([]byte{0, 0, 0, 3, 'e', 'x', 't'}) // header extension of 3 bytes
	for _, r := range rows {
		_ = binary.Write(&b, binary.BigEndian, int16(len(r)))
		for _, f := range r {
			if f == nil {
				_ = binary.Write(&b, binary.BigEndian, int32(-1))
				continue
			}
			_ = binary.Write(&b, binary.BigEndian, int32(len(f)))
			b.Write(f)
		}
	}
	_ = binary.Write(&b, binary.BigEndian, int16(-1))
	return b.Bytes()
}

// TestCopyDecoderAnySplit: a binary COPY stream decodes to the same rows however it is cut
// into writes (one byte at a time, every split point, random pieces): NULL stays nil, an
// empty value empty, bytes exactly; data after the trailer, or a wrong signature, is an
// error; a stream cut before its trailer is not ended.
func TestCopyDecoderAnySplit(t *testing.T) {
	g := NewWithT(t)
	long := bytes.Repeat([]byte("\t\\\n\r\x00\xff"), 5000)
	rows := [][][]byte{
		{[]byte("a"), nil, {}},
		{[]byte("tab\there"), []byte("new\nline"), []byte(`back\slash`)},
		{long, []byte("\xff\xfe not UTF-8"), []byte("é")},
		{{}, {}, nil},
	}
	stream := copyStream(rows)

	decode := func(pieces [][]byte) ([][][]byte, *copyDecoder, error) {
		var got [][][]byte
		d := &copyDecoder{row: func(f [][]byte) error {
			row := make([][]byte, len(f))
			for i, v := range f {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			got = append(got, row)
			return nil
		}}
		for _, p := range pieces {
			// The writer's buffer is reused after each write, as pgconn's is.
			buf := append([]byte{}, p...)
			if _, err := d.Write(buf); err != nil {
				return got, d, err
			}
			clear(buf)
		}
		return got, d, nil
	}
	check := func(pieces [][]byte, what string) {
		got, d, err := decode(pieces)
		g.Expect(err).NotTo(HaveOccurred(), what)
		g.Expect(d.ended).To(BeTrue(), what)
		g.Expect(d.pending).To(BeEmpty(), what)
		g.Expect(got).To(Equal(rows), what)
		g.Expect(got[0][1]).To(BeNil(), "NULL")
		g.Expect(got[0][2]).NotTo(BeNil(), "empty, not NULL")
	}

	check([][]byte{stream}, "one write")
	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	check(bytewise, "one byte per write")
	for at := 1; at < len(stream); at += 7 {
		check([][]byte{stream[:at], stream[at:]}, fmt.Sprintf("split at %d", at))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var pieces [][]byte
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(300))
			pieces, rest = append(pieces, rest[:n]), rest[n:]
		}
		check(pieces, "random pieces")
	}

	_, _, err := decode([][]byte{append(append([]byte{}, stream...), 0, 1)})
	g.Expect(err).To(MatchError(ContainSubstring("after its trailer")))
	bad := append([]byte{}, stream...)
	bad[0] = 'X'
	_, _, err = decode([][]byte{bad})
	g.Expect(err).To(MatchError(ContainSubstring("not a binary COPY stream")))
	_, d, err := decode([][]byte{stream[:len(stream)-2]})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.ended).To(BeFalse(), "no trailer yet")
}

// oddKeys are keys whose bytes a text wire format would have to escape, or that span
// several runs of a keyArena: tab, newline, carriage return, backslash, \N, quotes,
// non-ASCII, the empty key, a key of 100,000 bytes, and 5,000 plain keys.
func oddKeys() []string {
	keys := []string{"", "tab\tkey", "new\nline", "cr\rkey", `back\slash`, `\N`, `\\N`, `"quoted"`, "'single'", "é", "日本",
		"a\\tb", " leading space", "trailing space ", strings.Repeat("long\t\\key\n", 10_000)}
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("k%05d", i))
	}
	return keys
}

// TestSinkKeysListEveryByteExactly: the sink's key listing (a binary COPY) returns every
// key exactly, in byte order, whatever bytes it holds; in a SQL_ASCII database, where text
// holds bytes that are not UTF-8, those too. Stopping early leaves the sink usable.
func TestSinkKeysListEveryByteExactly(t *testing.T) {
	ctx := context.Background()
	const table = `CREATE TABLE contacts (
		ext_id text NOT NULL UNIQUE, email text, name varchar(10), score int,
		amount numeric(30,10), vip boolean, born timestamptz, doc jsonb,
		source_updated_at timestamptz NOT NULL, synced_at timestamptz, run_id text, deleted_at timestamptz)`
	insert := func(t *testing.T, dsn string, keys []string) {
		conn, err := pgx.Connect(ctx, dsn)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `INSERT INTO contacts (ext_id, source_updated_at) SELECT k, now() FROM unnest($1::text[]) AS k`, keys)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
	}

	t.Run("UTF8", func(t *testing.T) {
		g := NewWithT(t)
		dsn := newDB(t, table)
		keys := oddKeys()
		insert(t, dsn, keys)
		s := newSink(t, dsn, 1000, DeleteHard, SinkOptions{})
		want := slices.Clone(keys)
		slices.Sort(want)
		g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal(want))

		n := 0
		for _, err := range s.Keys(ctx, "") {
			g.Expect(err).NotTo(HaveOccurred())
			if n++; n == 3000 {
				break
			}
		}
		g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal(want), "the listing after one stopped early")
	})

	t.Run("SQL_ASCII", func(t *testing.T) {
		g := NewWithT(t)
		name := fmt.Sprintf("t%d_sql_ascii", dbSeq.Add(1))
		exec(t, server.DSN("postgres"), fmt.Sprintf(`CREATE DATABASE %s ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`, name))
		dsn := server.DSN(name)
		exec(t, dsn, table)
		insert(t, dsn, oddKeys())
		notUTF8 := []string{"\xff\xfe", "caf\xe9", "\x80"}
		keys := append(oddKeys(), notUTF8...)
		conn, err := pgx.Connect(ctx, dsn)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close(ctx)
		// Bytes that are not UTF-8 go in as bytea.
		for _, k := range notUTF8 {
			_, err := conn.Exec(ctx, `INSERT INTO contacts (ext_id, source_updated_at) VALUES (convert_from($1::bytea, 'SQL_ASCII'), now())`, []byte(k))
			g.Expect(err).NotTo(HaveOccurred(), "key %q", k)
		}
		var n int
		g.Expect(conn.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE convert_to(ext_id, 'SQL_ASCII') = '\xfffe'::bytea`).Scan(&n)).To(Succeed())
		g.Expect(n).To(Equal(1), "the database holds the bytes as they are")

		s := newSink(t, dsn, 1000, DeleteHard, SinkOptions{})
		want := slices.Clone(keys)
		slices.Sort(want)
		g.Expect(collect2(g, s.Keys(ctx, ""))).To(Equal(want))
	})
}

// TestIntegerListingByCopyAndFetch: an integer listing whose groups go partly through
// COPY streams on connections of their own (up to MaxConns-1 of them, the largest groups:
// here the positive and negative five-digit ones, many runs each) and partly through
// cursors gives the order a sort of every value's text would; with one connection every
// group is FETCHed, with the same result (with a prefix too); a listing stopped early leaves the source's pool
// usable; a COPY stream reads the listing's snapshot.
func TestIntegerListingByCopyAndFetch(t *testing.T) {
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO items SELECT i, now() FROM generate_series(-50000, 120000) AS i WHERE abs(i % 7) <> 3`)
	var want []string
	{
		conn, err := pgx.Connect(ctx, dsn)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		rows, err := conn.Query(ctx, `SELECT id::text FROM items ORDER BY id::text COLLATE "C"`)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		for rows.Next() {
			var s string
			NewWithT(t).Expect(rows.Scan(&s)).To(Succeed())
			want = append(want, s)
		}
		NewWithT(t).Expect(rows.Err()).NotTo(HaveOccurred())
		conn.Close(ctx)
	}
	for _, conns := range []int32{3, 2, 1} {
		t.Run(fmt.Sprintf("MaxConns=%d", conns), func(t *testing.T) {
			g := NewWithT(t)
			src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{MaxConns: conns})
			g.Expect(err).NotTo(HaveOccurred())
			defer src.Close()
			lo, hi := int64(-50000), int64(120000)
			g.Expect(slices.Collect(func(yield func(int) bool) {
				for i, c := range copyGroups(intGroups(lo, hi), int(conns)-1) {
					if c && !yield(i) {
						return
					}
				}
			})).To(HaveLen(int(conns)-1), "groups streamed by COPY")

			g.Expect(collect2(g, src.FieldValues(ctx, "id", ""))).To(Equal(want))
			prefixed := make([]string, len(want))
			for i, k := range want {
				prefixed[i] = "billing:" + k
			}
			g.Expect(collect2(g, src.PrefixedFieldValues(ctx, "id", "billing:", ""))).To(Equal(prefixed), "with a prefix")
			g.Expect(collect2(g, src.PrefixedFieldValues(ctx, "id", "billing:", "99990"))).To(Equal(prefixed[slices.Index(want, "99990")+1:]), "with a prefix, after a value")
			for _, stopAt := range []int{1, 5000, 100000} {
				n := 0
				for _, err := range src.FieldValues(ctx, "id", "") {
					g.Expect(err).NotTo(HaveOccurred())
					if n++; n == stopAt {
						break
					}
				}
			}
			// A stopped COPY's connection is closed; the pool drops it in the background.
			g.Eventually(func() int32 { return src.pool.Stat().AcquiredConns() }).Should(BeZero(), "every connection is back")

			if conns > 1 {
				// A COPY stream reads the listing's snapshot, not its own: a row inserted
				// after the listing began is not in it.
				tx, lo, hi, snapshot, err := src.beginIntListing(ctx, `"id"`, "items", true)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect([]int64{*lo, *hi}).To(Equal([]int64{-50000, 120000}))
				g.Expect(snapshot).NotTo(BeEmpty())
				exec(t, dsn, `INSERT INTO items VALUES (99991, now())`)
				var got []string
				g.Expect(src.copyGroup(ctx, snapshot, `SELECT id::int8 FROM items WHERE id BETWEEN 99990 AND 99992 ORDER BY id`, "inv_", func(r keyRun) bool {
					for i := range r.len() {
						got = append(got, r.key(i))
					}
					return true
				})).To(Succeed())
				g.Expect(tx.Rollback(ctx)).To(Succeed())
				g.Expect(got).To(Equal([]string{"inv_99990", "inv_99992"}))
				exec(t, dsn, `DELETE FROM items WHERE id = 99991`)
			}
		})
	}
}

// TestSourceListsUUIDAndTextValuesInByteOrder: an indexed uuid column, and indexed text
// and varchar columns compared in byte order, are listed in index order; an indexed text
// column of another collation (ICU root: a < B) and an unindexed one by a sort: every
// listing is the byte order of the values' text, keys of any bytes exactly.
func TestSourceListsUUIDAndTextValuesInByteOrder(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE items (id uuid PRIMARY KEY, code text UNIQUE, ref varchar(200) UNIQUE, label text COLLATE "und-x-icu" UNIQUE,
			plain text, updated_at timestamptz NOT NULL)`)
	// No 100 kB key: a btree entry holds at most about 2.7 kB.
	keys := slices.DeleteFunc(oddKeys()[:1000], func(k string) bool { return len(k) > 200 })
	keys = append(keys, "B", "a", "b", "A", "Z", "_")
	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO items SELECT gen_random_uuid(), k, k, k, k, now() FROM unnest($1::text[]) AS k`, keys)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(ctx, `INSERT INTO items VALUES ('00000000-0000-0000-0000-000000000000', NULL, NULL, NULL, NULL, now()),
		('ffffffff-ffff-ffff-ffff-ffffffffffff', NULL, NULL, NULL, NULL, now()), ('0a000000-0000-0000-0000-000000000000', NULL, NULL, NULL, NULL, now())`)
	g.Expect(err).NotTo(HaveOccurred())

	src, err := NewSource(ctx, SourceConfig{Table: "items", UpdatedAtColumn: "updated_at", IDColumn: "id"}, dsn, SourceOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	for _, tc := range []struct {
		col     string
		inOrder bool // listed in index order
	}{{"id", true}, {"code", true}, {"ref", true}, {"label", false}, {"plain", false}} {
		c := src.rel.columns[tc.col]
		ok, err := src.ordersAsText(ctx, c, tc.col)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(Equal(tc.inOrder), "column %s in index order", tc.col)
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT %[1]s::text FROM items WHERE %[1]s IS NOT NULL`, tc.col))
		g.Expect(err).NotTo(HaveOccurred())
		var want []string
		for rows.Next() {
			var s string
			g.Expect(rows.Scan(&s)).To(Succeed())
			want = append(want, s)
		}
		g.Expect(rows.Err()).NotTo(HaveOccurred())
		slices.Sort(want)
		g.Expect(collect2(g, src.FieldValues(ctx, tc.col, ""))).To(Equal(want), "column %s", tc.col)
	}
}
