package postgres

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
)

// TestDigestsComputeEachColumnOnce: a digest query computes a row's key text (a prefix and
// an integer's text) and its version in UTC once, in the scan, and both seeds' hashes read
// them there; computed once per seed, they doubled the digest's time. The plan is read
// from EXPLAIN (VERBOSE): the scan's output holds the expressions, not the bare columns.
func TestDigestsComputeEachColumnOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t,
		`CREATE TABLE src (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL)`,
		`INSERT INTO src SELECT g, now() - g * interval '1 second' FROM generate_series(1, 1000) g`,
		`ANALYZE src`)
	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SET max_parallel_workers_per_gather = 0`)
	g.Expect(err).NotTo(HaveOccurred())

	scanOutput := func(q string, args ...any) []string {
		var raw []byte
		g.Expect(conn.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+q, args...).Scan(&raw)).To(Succeed())
		var plans []struct{ Plan planNode }
		g.Expect(json.Unmarshal(raw, &plans)).To(Succeed())
		g.Expect(plans).To(HaveLen(1))
		n := plans[0].Plan
		for len(n.Plans) > 0 {
			g.Expect(n.Plans).To(HaveLen(1), "one input per node: %s", raw)
			n = n.Plans[0]
		}
		return n.Output
	}

	key := `$3::text || "id"::text`
	g.Expect(scanOutput(digestSQL(key, "src", `"id" IS NOT NULL`), int64(1), int64(2), "inv_")).
		To(ConsistOf(`('inv_'::text || (src.id)::text)`), "the key's text in the scan")
	g.Expect(scanOutput(versionDigestSQL(`$5::text || "id"::text`, `"updated_at"`, "src", `"updated_at" >= $3::timestamptz AND "updated_at" <= $4::timestamptz`),
		int64(1), int64(2), "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "inv_")).
		To(ConsistOf(`('inv_'::text || (src.id)::text)`, `(src.updated_at AT TIME ZONE 'UTC'::text)`), "the key's text and the version in UTC in the scan")
}

// planNode is the part of a node of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	Output []string   `json:"Output"`
	Plans  []planNode `json:"Plans"`
}
