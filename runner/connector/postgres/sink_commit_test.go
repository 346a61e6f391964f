package postgres

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestErrorAtCommitConfirmsNothing: a constraint checked only at commit (deferred) fails
// the batch on both paths, the single-statement insert path included: nothing is
// confirmed and nothing is stored.
func TestErrorAtCommitConfirmsNothing(t *testing.T) {
	for _, path := range sinkPaths {
		t.Run(path.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			dsn := newDB(t, contactsTable, `ALTER TABLE contacts ADD CONSTRAINT one_email UNIQUE (email) DEFERRABLE INITIALLY DEFERRED`)
			sink := newSink(t, dsn, path.threshold, DeleteIgnore, SinkOptions{})

			res, err := sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "same"), contact("b", tN(1), "same")})
			g.Expect(err).To(MatchError(ContainSubstring("one_email")))
			g.Expect(res).To(BeNil())
			g.Expect(readRows(t, dsn)).To(BeEmpty())

			res, err = sink.Upsert(ctx, []connector.WriteRecord{contact("a", tN(1), "a"), contact("b", tN(1), "b")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, connector.Written}))
		})
	}
}
