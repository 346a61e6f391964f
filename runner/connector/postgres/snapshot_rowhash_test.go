package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/checkpoint"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/engine"
)

// keyedSnapshotMapper is snapshotMapper with engine.KeyMapper, counting full mappings;
// suffix is appended to every name (a changed mapping).
type keyedSnapshotMapper struct {
	mapped atomic.Int64
	suffix string
}

func (m *keyedSnapshotMapper) Map(r connector.Record) (connector.WriteRecord, error) {
	m.mapped.Add(1)
	w, err := snapshotMapper{}.Map(r)
	if err == nil && m.suffix != "" {
		w.Values["name"] = w.Values["name"].(string) + m.suffix
	}
	return w, err
}

func (m *keyedSnapshotMapper) KeyFields() ([]string, bool) { return nil, true }

func (m *keyedSnapshotMapper) KeyOf(r connector.Record) (string, bool, error) {
	return "item:" + r.ID, false, nil
}

// TestSnapshotRowHashPostgresToPostgres: with hashes of source records (SnapshotRowHash)
// on a real PostgreSQL pair, a rerun over an unchanged table maps and writes nothing, a
// 1 % change maps and rewrites exactly those rows, and a changed mapping (a new
// fingerprint) rewrites every row with its new values.
func TestSnapshotRowHashPostgresToPostgres(t *testing.T) {
	const n = 20_000
	g := NewWithT(t)
	ctx := context.Background()
	srcDSN := newDB(t,
		`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, total numeric(12,2) NOT NULL, meta jsonb)`,
		fmt.Sprintf(`INSERT INTO items SELECT g, 'item ' || g, (g %% 100000) / 100.0, jsonb_build_object('n', g) FROM generate_series(1, %d) g`, n),
		`VACUUM ANALYZE items`)
	dstDSN := newDB(t, `CREATE TABLE crm (k text COLLATE "C" PRIMARY KEY, name text, total numeric(12,2), _checkpointed_hash text)`)
	store := checkpoint.NewFileStore(t.TempDir(), "snap")
	m := &keyedSnapshotMapper{}
	run := func(name, fingerprint string) engine.Result {
		src, err := NewSource(ctx, SourceConfig{Table: "items", IDColumn: "id", ScanOnly: true}, srcDSN, SourceOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer src.Close()
		sink, err := NewSink(ctx, SinkConfig{Table: "crm", KeyColumn: "k", Fields: []string{"name", "total"},
			FieldTypes:    map[string]connector.FieldType{"name": connector.TypeString, "total": connector.TypeDecimal},
			CopyThreshold: 1000, DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, dstDSN, SinkOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		defer sink.Close()
		m.mapped.Store(0)
		res, err := engine.Run(ctx, engine.Config{Job: "snap", RunID: name, Trigger: "Manual", Source: src,
			Sink: sink, Mapper: m, Store: store, PageSize: 1000, ErrorPolicy: engine.Halt,
			MaxErrors: -1, Snapshot: true, SnapshotRowHash: fingerprint})
		g.Expect(err).NotTo(HaveOccurred())
		return res
	}
	count := func(dsn, q string) (n int64) {
		conn, err := pgx.Connect(ctx, dsn)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close(ctx)
		g.Expect(conn.QueryRow(ctx, q).Scan(&n)).To(Succeed())
		return n
	}

	res := run("full", "fp1")
	g.Expect(res.Record.Upserted).To(Equal(int64(n)))
	g.Expect(count(dstDSN, `SELECT count(*) FROM crm WHERE _checkpointed_hash IS NOT NULL`)).To(Equal(int64(n)))

	res = run("unchanged", "fp1")
	g.Expect(res.Record.Upserted).To(BeZero())
	g.Expect(res.Record.Unchanged).To(Equal(int64(n)))
	g.Expect(m.mapped.Load()).To(BeZero(), "no unchanged row is mapped")

	// A change in a column the mapping does not read is a change of the source record:
	// written again (with the same values), never missed.
	exec(t, srcDSN, `UPDATE items SET total = total + 1 WHERE id % 100 = 0`, `UPDATE items SET meta = '{"n": 0}' WHERE id = 7`)
	exec(t, dstDSN, `CREATE TABLE before AS SELECT * FROM crm`)
	res = run("one-percent", "fp1")
	g.Expect(res.Record.Upserted).To(Equal(int64(n/100 + 1)))
	g.Expect(res.Record.Unchanged).To(Equal(int64(n - n/100 - 1)))
	g.Expect(m.mapped.Load()).To(Equal(int64(n/100+1)), "only the changed rows are mapped")
	g.Expect(count(dstDSN, `SELECT count(*) FROM crm c JOIN before b USING (k)
		WHERE (c.name, c.total, c._checkpointed_hash) IS DISTINCT FROM (b.name, b.total, b._checkpointed_hash)`)).To(Equal(int64(n/100 + 1)))
	g.Expect(count(dstDSN, `SELECT count(*) FROM crm c JOIN before b USING (k) WHERE c.total IS DISTINCT FROM b.total`)).To(Equal(int64(n / 100)))

	m.suffix = "!"
	res = run("mapping-changed", "fp2")
	g.Expect(res.Record.Upserted).To(Equal(int64(n)), "a changed mapping rewrites every row")
	g.Expect(count(dstDSN, `SELECT count(*) FROM crm WHERE name NOT LIKE '%!'`)).To(BeZero())
	res = run("after", "fp2")
	g.Expect(res.Record.Upserted).To(BeZero())
}
