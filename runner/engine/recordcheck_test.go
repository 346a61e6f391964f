package engine

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// checkingSource is a source that finds some of its records unusable as read
// (connector.RecordChecker), as the postgres source does for a cursor wall time its zone
// skips.
type checkingSource struct {
	*fakeSource
	bad map[string]bool
}

func (s checkingSource) RecordError(rec connector.Record) error {
	if s.bad[rec.ID] {
		return &connector.RecordError{ID: rec.ID, Field: "modified", Reason: "wall time does not exist in time zone"}
	}
	return nil
}

// TestSourceRecordErrorsFailTheRecord: a record its source reports unusable is a record
// error of the run, as a mapping failure is (counted, kept for a retry under Skip, never
// written); the other records are written as before.
func TestSourceRecordErrorsFailTheRecord(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(genRecords(10, 1))
	cfg := e.config()
	cfg.Source = checkingSource{fakeSource: e.src, bad: set("4")}

	res, err := Run(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Record.Failed).To(BeEquivalentTo(1))
	g.Expect(res.Record.Upserted).To(BeEquivalentTo(9))
	g.Expect(res.Record.ErrorSummary).To(ConsistOf(HaveField("Reason", "wall time does not exist in time zone")))
	g.Expect(e.sink.rows).NotTo(HaveKey("src:4"))
	g.Expect(e.sink.rows).To(HaveKey("src:5"))
	g.Expect(e.store.state.FailedKeys).To(Equal([]string{"4"}))
}
