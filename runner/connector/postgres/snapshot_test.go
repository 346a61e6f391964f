package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// TestScanPageOrdersByID: a source read only by id scans every row ascending by id, in
// CompareIDs' order, without an updated_at column, and refuses cursor reads.
func TestScanPageOrdersByID(t *testing.T) {
	for _, tc := range []struct {
		name, idType string
		ids, want    []string
	}{
		{"integer ids", "bigint", []string{"10", "9", "100", "-1", "2"}, []string{"-1", "2", "9", "10", "100"}},
		{"text ids byte-wise", "text", []string{"a10", "a9", "B", "b", "é"}, []string{"B", "a10", "a9", "b", "é"}},
		{"uuid ids", "uuid", []string{"f0000000-0000-0000-0000-000000000000", "0a000000-0000-0000-0000-000000000000"},
			[]string{"0a000000-0000-0000-0000-000000000000", "f0000000-0000-0000-0000-000000000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dsn := newDB(t, fmt.Sprintf(`CREATE TABLE items (id %s PRIMARY KEY, name text)`, tc.idType))
			for _, id := range tc.ids {
				exec(t, dsn, fmt.Sprintf(`INSERT INTO items VALUES ('%s', 'n')`, id))
			}
			ctx := context.Background()
			src, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, dsn, SourceOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			defer src.Close()
			var got []string
			after := ""
			for {
				p, err := src.ScanPage(ctx, after, 2)
				g.Expect(err).NotTo(HaveOccurred())
				for _, r := range p.Records {
					g.Expect(r.UpdatedAt.IsZero()).To(BeTrue())
					if len(got) > 0 {
						g.Expect(src.CompareIDs(got[len(got)-1], r.ID)).To(BeNumerically("<", 0))
					}
					got = append(got, r.ID)
				}
				if !p.More {
					break
				}
				after = p.Records[len(p.Records)-1].ID
			}
			g.Expect(got).To(Equal(tc.want))
			_, err = src.ReadPage(ctx, cursor.Beginning, 2)
			g.Expect(err).To(MatchError(ContainSubstring("read only by id")))
		})
	}
	t.Run("updatedAtColumn with ScanOnly is refused", func(t *testing.T) {
		err := SourceConfig{Table: "items", IDColumn: "id", UpdatedAtColumn: "updated_at", ScanOnly: true}.Validate()
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("Snapshot mode")))
	})
}

// TestHashColumnSetupAndStoredHashes: a missing hash column fails setup naming the DDL; a
// sink without versions stores each record's hash, reads them back by key, rewrites a row
// over a newer-looking version (no stale guard) and reports an equal row Unchanged.
func TestHashColumnSetupAndStoredHashes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, `CREATE TABLE crm (k text PRIMARY KEY, email text, source_updated_at timestamptz)`)
	cfg := SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"email"}, CopyThreshold: 1000,
		DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}
	_, err := NewSink(ctx, cfg, dsn, SinkOptions{})
	g.Expect(err).To(MatchError(ContainSubstring(`hash column "_checkpointed_hash" (spec.sink.postgres.hashColumn) does not exist in table "crm"`)))
	g.Expect(err).To(MatchError(ContainSubstring(`ALTER TABLE "crm" ADD COLUMN "_checkpointed_hash" text`)))

	exec(t, dsn, `ALTER TABLE "crm" ADD COLUMN "_checkpointed_hash" varchar(16)`)
	_, err = NewSink(ctx, cfg, dsn, SinkOptions{})
	g.Expect(err).To(MatchError(ContainSubstring(`hash column "_checkpointed_hash" of table "crm" is character varying(16), too short`)))
	exec(t, dsn, `ALTER TABLE "crm" ALTER COLUMN "_checkpointed_hash" TYPE text`)
	for _, threshold := range []int{1000, 1} { // the INSERT and the COPY path
		exec(t, dsn, `DELETE FROM crm`,
			`INSERT INTO crm VALUES ('c', 'old@x', '2030-01-01T00:00:00Z', NULL)`) // a row an Incremental run wrote
		cfg.CopyThreshold = threshold
		sink, err := NewSink(ctx, cfg, dsn, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		batch := []connector.WriteRecord{
			{Key: "a", SourceID: "1", Values: map[string]any{"email": "a@x"}, Hash: "h1"},
			{Key: "b", SourceID: "2", Values: map[string]any{"email": "b@x"}, Hash: "h2"},
			{Key: "c", SourceID: "3", Values: map[string]any{"email": "c@x"}, Hash: "h3"},
		}
		res, err := sink.Upsert(ctx, batch)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written, connector.Written}),
			"no stale guard: the row with a stored version is rewritten")
		hs, err := sink.StoredHashes(ctx, []string{"a", "b", "c", "missing"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hs).To(Equal(map[string]string{"a": "h1", "b": "h2", "c": "h3"}))
		res, err = sink.Upsert(ctx, batch[:1])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Unchanged}))
		batch[1].Hash = "h2b" // same values, new hash: the hash is rewritten
		res, err = sink.Upsert(ctx, batch[1:2])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written}))
		hs, err = sink.StoredHashes(ctx, []string{"b"})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(hs).To(Equal(map[string]string{"b": "h2b"}))
		sink.Close()
	}
	// A soft delete without a source version is dated by the sink's clock, not year 1.
	exec(t, dsn, `ALTER TABLE crm ADD COLUMN deleted_at timestamptz`)
	cfg.DeleteMode, cfg.DeleteColumn = DeleteSoft, "deleted_at"
	now := time.Date(2026, 7, 1, 8, 0, 0, 123456789, time.UTC)
	sink, err := NewSink(ctx, cfg, dsn, SinkOptions{Clock: func() time.Time { return now }})
	g.Expect(err).NotTo(HaveOccurred())
	defer sink.Close()
	res, err := sink.Upsert(ctx, []connector.WriteRecord{{Key: "a", SourceID: "1", Values: map[string]any{"email": "a@x"}, Hash: "hd", Deleted: true}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written}))
	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	var at time.Time
	g.Expect(conn.QueryRow(ctx, `SELECT deleted_at FROM crm WHERE k = 'a'`).Scan(&at)).To(Succeed())
	g.Expect(at.UTC()).To(Equal(now.Truncate(time.Microsecond)))

	g.Expect(SinkConfig{Table: "crm", KeyColumn: "k", CopyThreshold: 1, DeleteMode: DeleteIgnore, Unversioned: true}.Validate()).
		To(MatchError(ContainSubstring("spec.sink.postgres.hashColumn")))
}

// snapshotRows is the size of the Postgres → Postgres snapshot test: 100,000 rows keep the
// unit stage fast; CHECKPOINTED_SNAPSHOT_ROWS=1000000 runs it at the benchmark's size.
func snapshotRows(t *testing.T) int {
	if v := os.Getenv("CHECKPOINTED_SNAPSHOT_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("CHECKPOINTED_SNAPSHOT_ROWS=%q: want an integer >= 1000", v)
		}
		return n
	}
	return 100_000
}

// snapshotMapper maps an items row to key "item:<id>" with name and total.
type snapshotMapper struct{}

func (snapshotMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	return connector.WriteRecord{Key: "item:" + r.ID, SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt,
		Values: map[string]any{"name": r.Fields["name"], "total": r.Fields["total"]}}, nil
}

// TestSnapshotPostgresToPostgres: a Snapshot sync of a table without updated_at writes
// every row once, then nothing when nothing changed, then exactly the 1 % of rows an
// UPDATE changed; a run cancelled mid-scan resumes after its last confirmed page and the
// sink ends equal to the source.
func TestSnapshotPostgresToPostgres(t *testing.T) {
	n := snapshotRows(t)
	g := NewWithT(t)
	ctx := context.Background()
	srcDSN := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, total numeric(12,2) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO items SELECT g, 'item ' || g, (g %% 100000) / 100.0 FROM generate_series(1, %d) g`, n),
		`VACUUM ANALYZE items`)
	dstDSN := newDB(t, `CREATE TABLE crm (k text PRIMARY KEY, name text, total numeric(12,2), _checkpointed_hash text)`)
	dir := t.TempDir()
	store := checkpoint.NewFileStore(dir, "snap")

	run := func(ctx context.Context, name string, onUpsert func(call int)) (engine.Result, error) {
		src, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, srcDSN, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer src.Close()
		sink, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"name", "total"},
			FieldTypes:    map[string]connector.FieldType{"name": connector.TypeString, "total": connector.TypeDecimal},
			CopyThreshold: 1000, DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, dstDSN, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer sink.Close()
		var s connector.Sink = sink
		if onUpsert != nil {
			s = &countingSink{Sink: sink, after: onUpsert}
		}
		return engine.Run(ctx, engine.Config{Job: "snap", RunID: name, Trigger: "Manual", Source: src,
			Sink: s, Mapper: snapshotMapper{}, Store: store, PageSize: 5000, ErrorPolicy: engine.Halt,
			MaxErrors: -1, Snapshot: true})
	}
	sinkDiff := func() int64 {
		// Rows of the sink that differ from the source, and source rows missing from it.
		var diff int64
		conn, err := pgx.Connect(ctx, dstDSN)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close(ctx)
		src, err := pgx.Connect(ctx, srcDSN)
		g.Expect(err).NotTo(HaveOccurred())
		defer src.Close(ctx)
		var want, got int64
		g.Expect(src.QueryRow(ctx, `SELECT coalesce(sum(hashtext('item:' || id || '|' || name || '|' || total)), 0) FROM items`).Scan(&want)).To(Succeed())
		g.Expect(conn.QueryRow(ctx, `SELECT coalesce(sum(hashtext(k || '|' || name || '|' || total)), 0) FROM crm`).Scan(&got)).To(Succeed())
		var rows int64
		g.Expect(conn.QueryRow(ctx, `SELECT count(*) FROM crm`).Scan(&rows)).To(Succeed())
		if want != got {
			diff++
		}
		return diff + rows - int64(n)
	}

	t0 := time.Now()
	res, err := run(ctx, "full", nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(n)))
	g.Expect(sinkDiff()).To(BeZero())
	t.Logf("full load of %d rows: %s", n, time.Since(t0))

	t0 = time.Now()
	res, err = run(ctx, "unchanged", nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(n)))
	g.Expect(res.Record.Upserted).To(BeZero(), "nothing changed: nothing written")
	g.Expect(res.Record.Unchanged).To(Equal(int64(n)))
	t.Logf("unchanged rerun of %d rows: %s", n, time.Since(t0))

	exec(t, srcDSN, `UPDATE items SET total = total + 1 WHERE id % 100 = 0`)
	exec(t, dstDSN, `CREATE TABLE before AS SELECT * FROM crm`)
	t0 = time.Now()
	res, err = run(ctx, "one-percent", nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Upserted).To(Equal(int64(n / 100)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(n - n/100)))
	g.Expect(sinkDiff()).To(BeZero())
	var rewritten int64
	conn, err := pgx.Connect(ctx, dstDSN)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	g.Expect(conn.QueryRow(ctx, `SELECT count(*) FROM crm c JOIN before b USING (k)
		WHERE (c.name, c.total, c._checkpointed_hash) IS DISTINCT FROM (b.name, b.total, b._checkpointed_hash)`).Scan(&rewritten)).To(Succeed())
	g.Expect(rewritten).To(Equal(int64(n/100)), "exactly the changed rows differ in the sink")
	t.Logf("1 %% changed of %d rows: %s", n, time.Since(t0))

	// A run cancelled after its 3rd page: the scan position is the last confirmed id; the
	// next run goes on from there and writes only the rows left.
	exec(t, srcDSN, `UPDATE items SET name = name || '!'`)
	cctx, cancel := context.WithCancel(ctx)
	_, err = run(cctx, "cut", func(call int) {
		if call == 3 {
			cancel()
		}
	})
	var re *engine.RunError
	g.Expect(errors.As(err, &re)).To(BeTrue(), "%v", err)
	g.Expect(re.Phase).To(Equal(audit.PhaseInterrupted))
	st, err := store.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Cursor).NotTo(BeNil())
	g.Expect(st.Cursor.UpdatedAt.IsZero()).To(BeTrue())
	g.Expect(st.Cursor.ID).To(Equal("15000"), "three pages of 5000 were confirmed")
	res, err = run(ctx, "resumed", nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Read).To(Equal(int64(n-15000)), "the scan resumed after the confirmed pages")
	g.Expect(res.Record.Upserted).To(Equal(int64(n - 15000)))
	g.Expect(sinkDiff()).To(BeZero())
	st, err = store.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Cursor).To(BeNil(), "a complete scan stores no position")
}

// countingSink calls after once each Upsert returned.
type countingSink struct {
	connector.Sink
	calls int
	after func(call int)
}

func (s *countingSink) Upsert(ctx context.Context, b []connector.WriteRecord) ([]connector.Result, error) {
	res, err := s.Sink.Upsert(ctx, b)
	s.calls++
	s.after(s.calls)
	return res, err
}

// StoredHashes passes the wrapped sink's hashes on.
func (s *countingSink) StoredHashes(ctx context.Context, keys []string) (map[string]string, error) {
	return s.Sink.(connector.HashReader).StoredHashes(ctx, keys)
}
