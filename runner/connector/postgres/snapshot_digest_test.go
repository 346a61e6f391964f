package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// digestMapper maps every column of the digest tests' table; its key is "item:" + id
// (KeyFields names none) or, with keyField, built from that field.
type digestMapper struct {
	mapped   atomic.Int64
	keyField string
}

func (m *digestMapper) key(r connector.Record) string {
	if m.keyField != "" {
		return "code:" + fmt.Sprint(r.Fields[m.keyField])
	}
	return "item:" + r.ID
}

func (m *digestMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	m.mapped.Add(1)
	var meta any
	if v := r.Fields["meta"]; v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return connector.WriteRecord{}, err
		}
		meta = connector.JSON(b)
	}
	return connector.WriteRecord{Key: m.key(r), SourceID: r.ID, Values: map[string]any{
		"name": r.Fields["name"], "total": r.Fields["total"], "flag": r.Fields["flag"], "at": r.Fields["at"],
		"note": r.Fields["note"], "meta": meta, "code": fmt.Sprint(r.Fields["code"]),
	}}, nil
}

func (m *digestMapper) KeyFields() ([]string, bool) {
	if m.keyField != "" {
		return []string{m.keyField}, true
	}
	return nil, true
}

func (m *digestMapper) KeyOf(r connector.Record) (string, bool, error) { return m.key(r), false, nil }

// digestSource counts the source's page reads of each kind.
type digestSource struct {
	*Source
	hashed, pages atomic.Int64
}

func (s *digestSource) ScanHashed(ctx context.Context, afterID string, limit int, seed string) (connector.HashedPage, error) {
	s.hashed.Add(1)
	return s.Source.ScanHashed(ctx, afterID, limit, seed)
}

func (s *digestSource) ScanPage(ctx context.Context, afterID string, limit int) (connector.Page, error) {
	s.pages.Add(1)
	return s.Source.ScanPage(ctx, afterID, limit)
}

// digestSink counts the keys looked up one by one and calls after once each Upsert returned.
type digestSink struct {
	*Sink
	lookedUp atomic.Int64
	calls    int
	after    func(call int)
}

func (s *digestSink) StoredHashes(ctx context.Context, keys []string) (map[string]string, error) {
	s.lookedUp.Add(int64(len(keys)))
	return s.Sink.StoredHashes(ctx, keys)
}

func (s *digestSink) Upsert(ctx context.Context, b []connector.WriteRecord) ([]connector.Result, error) {
	res, err := s.Sink.Upsert(ctx, b)
	s.calls++
	if s.after != nil {
		s.after(s.calls)
	}
	return res, err
}

const digestSourceDDL = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, total numeric(12,2) NOT NULL,
  flag boolean, at timestamptz NOT NULL, note text, meta jsonb, code text NOT NULL)`

const digestSinkDDL = `CREATE TABLE crm (k text COLLATE "C" PRIMARY KEY, name text, total numeric(12,2), flag boolean,
  at timestamptz, note text, meta jsonb, code text, _checkpointed_hash text)`

// digestRig runs Snapshot syncs from items to crm with hashes of source records.
type digestRig struct {
	t              *testing.T
	g              *WithT
	srcDSN, dstDSN string
	store          checkpoint.Store
	m              *digestMapper
	src            *digestSource // of the last run
	sink           *digestSink   // of the last run
}

func newDigestRig(t *testing.T, n int) *digestRig {
	srcDSN := newDB(t, digestSourceDDL,
		fmt.Sprintf(`INSERT INTO items SELECT g, 'item ' || g, (g %% 100000) / 100.0, CASE WHEN g %% 3 = 0 THEN NULL ELSE g %% 2 = 0 END,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', CASE WHEN g %% 2 = 0 THEN 'n' END,
  CASE WHEN g %% 5 <> 0 THEN jsonb_build_object('n', g) END, g::text FROM generate_series(1, %d) g`, n),
		`VACUUM ANALYZE items`)
	return &digestRig{t: t, g: NewWithT(t), srcDSN: srcDSN, dstDSN: newDB(t, digestSinkDDL),
		store: checkpoint.NewFileStore(t.TempDir(), "snap"), m: &digestMapper{}}
}

func (r *digestRig) run(ctx context.Context, name string, after func(call int)) (engine.Result, error) {
	src, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, r.srcDSN, SourceOptions{})
	r.g.Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	sink, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"name", "total", "flag", "at", "note", "meta", "code"},
		FieldTypes: map[string]connector.FieldType{"name": connector.TypeString, "total": connector.TypeDecimal,
			"flag": connector.TypeBool, "at": connector.TypeTimestamp, "note": connector.TypeString, "meta": connector.TypeJSON,
			"code": connector.TypeString},
		CopyThreshold: 100, DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, r.dstDSN, SinkOptions{})
	r.g.Expect(err).NotTo(HaveOccurred())
	defer sink.Close()
	r.src, r.sink = &digestSource{Source: src}, &digestSink{Sink: sink, after: after}
	r.m.mapped.Store(0)
	return engine.Run(ctx, engine.Config{Job: "snap", RunID: name, Trigger: "Manual", Source: r.src,
		Sink: r.sink, Mapper: r.m, Store: r.store, PageSize: 1000, ErrorPolicy: engine.Halt,
		MaxErrors: -1, Snapshot: true, SnapshotRowHash: "fp1"})
}

// mustRun runs a sync that must succeed.
func (r *digestRig) mustRun(name string) audit.Record {
	res, err := r.run(context.Background(), name, nil)
	r.g.Expect(err).NotTo(HaveOccurred())
	return res.Record
}

// differing counts the source rows the sink does not hold as mapped (every column; json
// compared as jsonb), and the sink rows without a hash.
func (r *digestRig) differing() int64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.dstDSN)
	r.g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	src, err := pgx.Connect(ctx, r.srcDSN)
	r.g.Expect(err).NotTo(HaveOccurred())
	defer src.Close(ctx)
	const cols = `name, total, flag, at, note, meta, code::text`
	rows, err := src.Query(ctx, `SELECT 'item:' || id, `+cols+` FROM items ORDER BY id`)
	r.g.Expect(err).NotTo(HaveOccurred())
	want := map[string][]any{}
	for rows.Next() {
		v, err := rows.Values()
		r.g.Expect(err).NotTo(HaveOccurred())
		want[v[0].(string)] = v[1:]
	}
	r.g.Expect(rows.Err()).NotTo(HaveOccurred())
	rows, err = conn.Query(ctx, `SELECT k, `+cols+`, _checkpointed_hash IS NULL FROM crm`)
	r.g.Expect(err).NotTo(HaveOccurred())
	var diff int64
	for rows.Next() {
		v, err := rows.Values()
		r.g.Expect(err).NotTo(HaveOccurred())
		w, ok := want[v[0].(string)]
		if !ok {
			continue // a key the source no longer holds (DeleteIgnore)
		}
		delete(want, v[0].(string))
		if v[len(v)-1].(bool) || fmt.Sprint(w) != fmt.Sprint(v[1:len(v)-1]) {
			diff++
		}
	}
	r.g.Expect(rows.Err()).NotTo(HaveOccurred())
	return diff + int64(len(want))
}

// TestSnapshotDigestsPostgresToPostgres: with a key of the id alone, a Snapshot run reads
// ids and row digests (ScanHashed, never ScanPage) and takes the stored hashes from the
// sink's stream: an unchanged table writes and maps nothing and every row is Unchanged;
// a change in any column — NULL to a value and back, a bool, a time by a microsecond, a
// json value, a column's type with the same text — is written, as are inserted rows,
// while a deleted row is left to the delete handling (Ignore here); a run cut short
// resumes after its last confirmed id and the sink ends equal to the source.
func TestSnapshotDigestsPostgresToPostgres(t *testing.T) {
	const n = 5000
	r := newDigestRig(t, n)
	g := r.g

	rec := r.mustRun("full")
	g.Expect(rec.Upserted).To(Equal(int64(n)))
	g.Expect(r.differing()).To(BeZero())

	rec = r.mustRun("unchanged")
	g.Expect(rec.Read).To(Equal(int64(n)))
	g.Expect(rec.Upserted).To(BeZero(), "nothing changed: nothing written")
	g.Expect(rec.Unchanged).To(Equal(int64(n)))
	g.Expect(r.m.mapped.Load()).To(BeZero(), "no unchanged row is decoded and mapped")
	g.Expect(r.src.hashed.Load()).To(BeNumerically(">", 0))
	g.Expect(r.src.pages.Load()).To(BeZero(), "pages of digests, not of records")
	g.Expect(r.sink.lookedUp.Load()).To(BeNumerically("<", n/10), "the stored hashes come from the sink's stream")

	exec(t, r.srcDSN,
		`UPDATE items SET note = 'x' WHERE id = 1`,      // NULL -> value
		`UPDATE items SET note = NULL WHERE id = 2`,     // value -> NULL
		`UPDATE items SET flag = NOT flag WHERE id = 4`, // a bool
		`UPDATE items SET at = at + interval '1 microsecond' WHERE id = 5`,
		`UPDATE items SET meta = '{"n": "7"}' WHERE id = 7`, // a json number becomes a string
		`UPDATE items SET meta = NULL WHERE id = 8`,
		`DELETE FROM items WHERE id = 4999`,
		fmt.Sprintf(`INSERT INTO items VALUES (%d, 'new', 1.00, true, now(), NULL, NULL, '0')`, n+1))
	rec = r.mustRun("changed")
	g.Expect(rec.Read).To(Equal(int64(n)))
	g.Expect(rec.Upserted).To(Equal(int64(7)), "six changed rows and one new")
	g.Expect(rec.Unchanged).To(Equal(int64(n - 7)))
	g.Expect(r.m.mapped.Load()).To(Equal(int64(7)))
	g.Expect(r.differing()).To(BeZero())

	// The same text in another type is another record: written, even where it maps to the
	// same values.
	exec(t, r.srcDSN, `ALTER TABLE items ALTER COLUMN code TYPE bigint USING code::bigint`)
	rec = r.mustRun("retyped")
	g.Expect(rec.Upserted).To(Equal(int64(n)))
	rec = r.mustRun("after-retype")
	g.Expect(rec.Upserted).To(BeZero())

	// A run cancelled after its 2nd written page: the scan position is the last confirmed
	// id; the next run goes on from there and writes only the rows left.
	exec(t, r.srcDSN, `UPDATE items SET name = name || '!'`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := r.run(ctx, "cut", func(call int) {
		if call == 2 {
			cancel()
		}
	})
	var re *engine.RunError
	g.Expect(errors.As(err, &re)).To(BeTrue(), "%v", err)
	g.Expect(re.Phase).To(Equal(audit.PhaseInterrupted))
	st, err := r.store.Load(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Cursor).NotTo(BeNil())
	g.Expect(st.Cursor.ID).To(Equal("2000"), "two pages of 1000 were confirmed")
	rec = r.mustRun("resumed")
	g.Expect(rec.Read).To(Equal(int64(n-2000)), "the scan resumed after the confirmed pages")
	g.Expect(rec.Upserted).To(Equal(int64(n - 2000)))
	g.Expect(r.differing()).To(BeZero())
	st, err = r.store.Load(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Cursor).To(BeNil(), "a complete scan stores no position")
	rec = r.mustRun("settled")
	g.Expect(rec.Upserted).To(BeZero())
}

// TestSnapshotDigestsNeedAKeyOfTheID: a key built from another field than the id reads
// records (ScanPage), as before digests, and still writes only what changed.
func TestSnapshotDigestsNeedAKeyOfTheID(t *testing.T) {
	const n = 2000
	r := newDigestRig(t, n)
	r.m.keyField = "code"
	g := r.g
	rec := r.mustRun("full")
	g.Expect(rec.Upserted).To(Equal(int64(n)))
	rec = r.mustRun("unchanged")
	g.Expect(rec.Upserted).To(BeZero())
	g.Expect(rec.Unchanged).To(Equal(int64(n)))
	g.Expect(r.src.hashed.Load()).To(BeZero(), "no digests for a key of other fields")
	g.Expect(r.src.pages.Load()).To(BeNumerically(">", 0))
	exec(t, r.srcDSN, `UPDATE items SET note = 'x' WHERE id = 3`)
	rec = r.mustRun("changed")
	g.Expect(rec.Upserted).To(Equal(int64(1)))
}
