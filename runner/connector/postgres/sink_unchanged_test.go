package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSkipUnchangedFirstPolicy: a page's merge leaves out the stored-as-staged rows first
// only after a page where at least half the rows were unchanged.
func TestSkipUnchangedFirstPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		prev pageOutcome
		want bool
	}{
		{"first page", pageOutcome{}, false},
		{"all written (a full load)", pageOutcome{staged: 5000, reported: 5000}, false},
		{"all unchanged (a re-upsert)", pageOutcome{staged: 5000, reported: 0}, true},
		{"half unchanged", pageOutcome{staged: 100, reported: 50}, true},
		{"just under half unchanged", pageOutcome{staged: 100, reported: 51}, false},
		{"one unchanged row", pageOutcome{staged: 1, reported: 0}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(skipUnchangedFirst(tc.prev)).To(Equal(tc.want))
		})
	}
}

// fullContact is a contact with a value in every mapped column of contactsTable.
func fullContact(key string, n int) connector.WriteRecord {
	return connector.WriteRecord{Key: key, SourceID: "src-" + key, SourceUpdatedAt: tN(n), Values: map[string]any{
		"email":  fmt.Sprintf("%s@example.com", key),
		"name":   fmt.Sprintf("n%d", n%1000),
		"score":  int64(n),
		"amount": connector.Decimal(fmt.Sprintf("%d.25", n)),
		"vip":    n%2 == 0,
		"born":   tN(-n),
		"doc":    connector.JSON(fmt.Sprintf(`{"n": %d, "tags": ["a", "b"]}`, n)),
	}}
}

// TestUnchangedRowsOfAnUnchangedRunAreNotLocked: once a page came back mostly unchanged
// (a re-upsert), the next page's unchanged rows are left out before ON CONFLICT, which
// locks every conflicting row even when it updates nothing (a lock writes WAL and dirties
// the row's page); changed, stale and new rows of that page are merged as always.
func TestUnchangedRowsOfAnUnchangedRunAreNotLocked(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, contactsTable)
	s := newSink(t, dsn, 1, DeleteSoft, SinkOptions{RunID: "run-1"})
	page := func(prefix string) []connector.WriteRecord {
		recs := make([]connector.WriteRecord, 100)
		for i := range recs {
			recs[i] = fullContact(fmt.Sprintf("%s-%03d", prefix, i), i+1)
		}
		return recs
	}
	upsert := func(recs []connector.WriteRecord) []connector.Outcome {
		res, err := s.Upsert(ctx, recs)
		g.Expect(err).NotTo(HaveOccurred())
		return outcomes(res)
	}
	all := func(o connector.Outcome, n int) []connector.Outcome {
		out := make([]connector.Outcome, n)
		for i := range out {
			out[i] = o
		}
		return out
	}
	g.Expect(upsert(page("a"))).To(Equal(all(connector.Written, 100)))
	g.Expect(upsert(page("b"))).To(Equal(all(connector.Written, 100)))
	// After a page of writes, the unchanged page is merged directly: ON CONFLICT locks.
	g.Expect(upsert(page("a"))).To(Equal(all(connector.Unchanged, 100)))

	// After a page that was all unchanged: one changed, one stale, one new, the rest equal.
	b := page("b")
	b[5].SourceUpdatedAt, b[5].Values["email"] = tN(500), "changed@example.com"
	b[7].SourceUpdatedAt, b[7].Values["email"] = tN(-500), "older@example.com"
	b = append(b, fullContact("b-new", 42))
	want := all(connector.Unchanged, 101)
	want[5], want[7], want[100] = connector.Written, connector.Stale, connector.Written
	g.Expect(upsert(b)).To(Equal(want))

	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	count := func(where string) int {
		var n int
		g.Expect(conn.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE "+where).Scan(&n)).To(Succeed())
		return n
	}
	g.Expect(count(`ext_id LIKE 'a-%' AND xmax <> 0`)).To(Equal(100), "ON CONFLICT locked the unchanged rows of the page merged directly")
	g.Expect(count(`ext_id LIKE 'b-%' AND ext_id NOT IN ('b-005', 'b-007', 'b-new') AND xmax <> 0`)).To(BeZero(),
		"no unchanged row of the page after it was locked")
	g.Expect(count(`ext_id = 'b-005' AND email = 'changed@example.com'`)).To(Equal(1))
	g.Expect(count(`ext_id = 'b-007' AND email = 'b-007@example.com'`)).To(Equal(1), "the newer stored version stays")
	g.Expect(count(`ext_id = 'b-new' AND run_id = 'run-1'`)).To(Equal(1))
	g.Expect(count(`true`)).To(Equal(201))
}

// TestUnchangedRowsOfAnUnversionedSinkAreNotLocked: the same for a sink without a source
// version (Snapshot mode: the values and the row hash decide), with a json column, which
// is compared as jsonb.
func TestUnchangedRowsOfAnUnversionedSinkAreNotLocked(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dsn := newDB(t, `CREATE TABLE docs (k text PRIMARY KEY, doc json, note text, _checkpointed_hash text)`)
	s, err := NewSink(ctx, SinkConfig{Table: "docs", KeyColumn: "k", Fields: []string{"doc", "note"}, CopyThreshold: 1,
		DeleteMode: DeleteIgnore, Unversioned: true, HashColumn: "_checkpointed_hash"}, dsn, SinkOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	page := func(prefix, note string) []connector.WriteRecord {
		recs := make([]connector.WriteRecord, 50)
		for i := range recs {
			recs[i] = connector.WriteRecord{Key: fmt.Sprintf("%s-%02d", prefix, i), SourceID: fmt.Sprint(i), Hash: fmt.Sprintf("h%d", i),
				Values: map[string]any{"doc": connector.JSON(fmt.Sprintf(`{"i": %d,  "s": "x"}`, i)), "note": note}}
		}
		return recs
	}
	for _, step := range []struct {
		recs []connector.WriteRecord
		want connector.Outcome
	}{
		{page("a", "n"), connector.Written},
		{page("b", "n"), connector.Written},
		{page("a", "n"), connector.Unchanged}, // merged directly: ON CONFLICT locks
		{page("b", "n"), connector.Unchanged}, // after an unchanged page: left out first
		{page("a", "changed"), connector.Written},
	} {
		res, err := s.Upsert(ctx, step.recs)
		g.Expect(err).NotTo(HaveOccurred())
		for i, r := range res {
			g.Expect(r.Outcome).To(Equal(step.want), "record %d", i)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close(ctx)
	var locked, changed int
	g.Expect(conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE k LIKE 'b-%' AND xmax <> 0), count(*) FILTER (WHERE note = 'changed') FROM docs`).
		Scan(&locked, &changed)).To(Succeed())
	g.Expect(locked).To(BeZero())
	g.Expect(changed).To(Equal(50), "a changed page after an unchanged one is written")
}
