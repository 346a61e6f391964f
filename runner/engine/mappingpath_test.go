package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
	"github.com/checkpointed/checkpointed/runner/mapping"
)

// apiRecords makes n records shaped like an HTTP API's: ids 1..n, one second apart, with
// a customer_id (absent on the ids in without) and a status.
func apiRecords(n int, without ...int) []connector.Record {
	skip := map[int]bool{}
	for _, id := range without {
		skip[id] = true
	}
	recs := make([]connector.Record, n)
	for i := range n {
		f := map[string]any{"status": "open"}
		if !skip[i+1] {
			f["customer_id"] = "cus_" + strconv.Itoa(i+1)
		}
		recs[i] = connector.Record{ID: strconv.Itoa(i + 1), UpdatedAt: t0.Add(time.Duration(i) * time.Second), Fields: f}
	}
	return recs
}

// realMapping is the mapping package's Mapping for one string entry from `from` (the test
// crosses the engine's import line to drive the real page check).
func realMapping(t *testing.T, from string, required bool) *mapping.Mapping {
	t.Helper()
	m, err := mapping.New(mapping.Spec{
		SourceName: "crm",
		Key:        mapping.Key{Field: "ext_id"},
		Fields: []mapping.Field{
			{To: "status", From: "status", Type: connector.TypeString},
			{To: "customer", From: from, Type: connector.TypeString, Required: required},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMappingPathMissingOnEveryRecordFailsBeforeWriting: a from path (a typo) that no record
// of a page has, from a source that cannot list its fields ahead (an HTTP API), fails the
// run with MappingPathMissing naming the entry; nothing of the page is written and the
// stored cursor does not move. Before the fix every record was written with a NULL and the
// run Succeeded.
func TestMappingPathMissingOnEveryRecordFailsBeforeWriting(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(apiRecords(12))
	start := cursor.Cursor{UpdatedAt: t0.Add(-time.Hour), ID: "0"}
	e.store.state.Cursor = &start
	cfg := e.config()
	cfg.Source = plainSource{e.src} // no Columns: the fields are only known by reading
	cfg.Mapper = realMapping(t, "customer_idd", false)

	res, err := Run(context.Background(), cfg)
	re := runErr(t, err)
	g.Expect(re).NotTo(BeNil())
	g.Expect(re.Phase).To(Equal(audit.PhaseFailed))
	g.Expect(re.Reason).To(Equal(runcontract.ReasonMappingPathMissing))
	g.Expect(re.Message).To(ContainSubstring(`mapping[1] (to: customer) from "customer_idd"`))
	g.Expect(res.Record.Reason).To(Equal(runcontract.ReasonMappingPathMissing))
	g.Expect(e.sink.snapshot()).To(BeEmpty(), "nothing of the page was written")
	g.Expect(e.sink.upserts()).To(BeZero())
	g.Expect(e.store.get().Cursor).To(Equal(&start), "the cursor did not move past the page")
}

// TestMappingPathMissingOnALaterPage: a page whose records all lack the path (the API
// changed shape mid-run) stops the run there; the pages before it are committed.
func TestMappingPathMissingOnALaterPage(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(apiRecords(12, 6, 7, 8, 9, 10))
	cfg := e.config() // pages of 5: 1-5, 6-10, 11-12
	cfg.Source = plainSource{e.src}
	cfg.Mapper = realMapping(t, "customer_id", false)

	_, err := Run(context.Background(), cfg)
	re := runErr(t, err)
	g.Expect(re).NotTo(BeNil())
	g.Expect(re.Reason).To(Equal(runcontract.ReasonMappingPathMissing))
	g.Expect(re.Message).To(ContainSubstring(`mapping[1] (to: customer) from "customer_id"`))
	g.Expect(e.sink.snapshot()).To(HaveLen(5), "only the first page was written")
	g.Expect(e.store.get().Cursor.ID).To(Equal("5"), "the cursor stops at the end of the last written page")
}

// TestMappingPathMissingOnSomeRecordsFollowsRequired: a path present on some records of a
// page is not a run error: a record without it is a null write when the entry is not
// required, a record error when it is.
func TestMappingPathMissingOnSomeRecordsFollowsRequired(t *testing.T) {
	for _, required := range []bool{false, true} {
		t.Run("required="+strconv.FormatBool(required), func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(apiRecords(12, 3, 11))
			cfg := e.config()
			cfg.Source = plainSource{e.src}
			cfg.Mapper = realMapping(t, "customer_id", required)

			res, err := Run(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.store.get().Cursor.ID).To(Equal("12"))
			rows := e.sink.snapshot()
			if !required {
				g.Expect(res.Record.Phase).To(Equal(audit.PhaseSucceeded))
				g.Expect(rows).To(HaveLen(12))
				g.Expect(rows["crm:3"].Values).To(HaveKeyWithValue("customer", BeNil()))
				g.Expect(rows["crm:4"].Values).To(HaveKeyWithValue("customer", "cus_4"))
				return
			}
			g.Expect(res.Record.Phase).To(Equal(audit.PhasePartiallySucceeded))
			g.Expect(res.Record.Failed).To(Equal(int64(2)))
			g.Expect(rows).To(HaveLen(10))
			g.Expect(rows).NotTo(HaveKey("crm:3"))
			g.Expect(e.store.get().FailedKeys).To(ConsistOf("3", "11"))
		})
	}
}
