package httpapi

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func deleted(r connector.WriteRecord) connector.WriteRecord {
	r.Deleted = true
	return r
}

// TestSinkDeletes: Delete removes the object (already gone is Written), SoftDelete writes
// the deletion time and clears it on live records, Ignore sends nothing.
func TestSinkDeletes(t *testing.T) {
	cases := []struct {
		mode, deleteMode string
		want             []connector.Outcome
		wantKeys         []string
		wantState        []string // substrings of the objects' state
	}{
		{ModeUpsert, DeleteHard, []connector.Outcome{connector.Written, connector.Written, connector.Written}, []string{"billing:b"}, nil},
		{ModeLookupThenWrite, DeleteHard, []connector.Outcome{connector.Written, connector.Written, connector.Written}, []string{"billing:b"}, nil},
		{ModeUpsert, DeleteSoft, []connector.Outcome{connector.Written, connector.Written, connector.Written}, []string{"billing:a", "billing:b", "billing:z"},
			[]string{`billing:a {"deleted_at":"2026-06-30T23:57:00Z"`, `billing:b {"deleted_at":null`}},
		{ModeBatch, DeleteSoft, []connector.Outcome{connector.Written, connector.Written, connector.Written}, []string{"billing:a", "billing:b", "billing:z"},
			[]string{`billing:a {"deleted_at":"2026-06-30T23:57:00Z"`, `billing:b {"deleted_at":null`}},
		{ModeLookupThenWrite, DeleteSoft, []connector.Outcome{connector.Written, connector.Written, connector.Written}, []string{"billing:a", "billing:b", "billing:z"},
			[]string{`billing:a {"deleted_at":"2026-06-30T23:57:00Z"`, `billing:b {"deleted_at":null`}},
		{ModeBatch, DeleteIgnore, []connector.Outcome{connector.Unchanged, connector.Written, connector.Unchanged}, []string{"billing:a", "billing:b"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.mode+"/"+tc.deleteMode, func(t *testing.T) {
			g := NewWithT(t)
			crm := newFakeCRM(t)
			sink := crm.sink(t, tc.mode, func(c *SinkConfig) { c.DeleteMode = tc.deleteMode })
			_, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1")})
			g.Expect(err).NotTo(HaveOccurred())
			writes := crm.requestCount("")

			batch := []connector.WriteRecord{deleted(wrec("a", 2, "1")), wrec("b", 2, "2"), deleted(wrec("z", 2, "3"))}
			for run := range 2 { // a rerun changes nothing more
				res, err := sink.Upsert(t.Context(), batch)
				g.Expect(err).NotTo(HaveOccurred())
				want := tc.want
				if run == 1 {
					// b and the soft deletes are unchanged; a hard delete of a gone object is Written.
					want = []connector.Outcome{connector.Unchanged, connector.Unchanged, connector.Unchanged}
					if tc.deleteMode == DeleteHard {
						want = []connector.Outcome{connector.Written, connector.Unchanged, connector.Written}
					}
				}
				g.Expect(outcomes(res)).To(Equal(want), "run %d", run+1)
				g.Expect(crm.keys()).To(Equal(tc.wantKeys))
				state := strings.Join(crm.state(), "\n")
				for _, w := range tc.wantState {
					g.Expect(state).To(ContainSubstring(w))
				}
			}
			if tc.deleteMode == DeleteIgnore {
				g.Expect(crm.requestCount("") - writes).To(Equal(2)) // b, twice
			}
		})
	}
}
