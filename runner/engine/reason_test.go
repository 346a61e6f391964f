package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/runner/audit"
	"github.com/checkpointed/checkpointed/runner/connector"
)

// reasonErr is a connector error that names its failure reason, as the HTTP transport's
// errors do ("HTTP503", "Timeout").
type reasonErr struct{ reason string }

func (e reasonErr) Error() string  { return "GET http://api/items: " + e.reason }
func (e reasonErr) Reason() string { return e.reason }

// TestFailureReasonFromTheError: a source or sink error that names its reason (an HTTP
// status, a timeout) fails the run with that reason, the cursor at the last confirmed
// page; a rate limit stays RateLimited; an error naming none keeps SourceError/SinkError.
func TestFailureReasonFromTheError(t *testing.T) {
	recs := genRecords(20, 1)
	at := func(id int) *cursor.Cursor { c := recs[id-1].Cursor(); return &c }
	for _, tc := range []struct {
		name     string
		readErr  map[int]error
		batchErr map[int]error
		reason   string
		cursor   *cursor.Cursor
	}{
		{name: "source HTTP status", readErr: map[int]error{3: fmt.Errorf("read page: %w", reasonErr{"HTTP503"})}, reason: "HTTP503", cursor: at(10)},
		{name: "source timeout", readErr: map[int]error{2: fmt.Errorf("read page: %w", reasonErr{"Timeout"})}, reason: "Timeout", cursor: at(5)},
		{name: "sink HTTP status", batchErr: map[int]error{2: fmt.Errorf("upsert: %w", reasonErr{"HTTP502"})}, reason: "HTTP502", cursor: at(5)},
		{name: "a reason-less error", readErr: map[int]error{3: fmt.Errorf("read page: %w", reasonErr{""})}, reason: runcontract.ReasonSourceError, cursor: at(10)},
		{name: "rate limited wins", readErr: map[int]error{3: fmt.Errorf("%w: %w", reasonErr{"HTTP429"}, connector.ErrRateLimited)}, reason: runcontract.ReasonRateLimited, cursor: at(10)},
		{name: "plain errors keep the connector's reason", batchErr: map[int]error{2: errors.New("connection reset")}, reason: runcontract.ReasonSinkError, cursor: at(5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(recs)
			e.src.readErrAt = tc.readErr
			e.sink.batchErrAt = tc.batchErr
			res, err := Run(context.Background(), e.config())
			g.Expect(res.Record.Phase).To(Equal(audit.PhaseFailed))
			g.Expect(res.Record.Reason).To(Equal(tc.reason))
			g.Expect(runErr(t, err).Reason).To(Equal(tc.reason))
			g.Expect(e.store.get().Cursor).To(Equal(tc.cursor))
		})
	}
}
