package v1alpha1

import (
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
)

// TestRunRecordCountsJSON: a record the runner wrote keeps its counts, a true 0 included;
// a record with countsUnknown has no count keys at all, and decodes back to the same record.
func TestRunRecordCountsJSON(t *testing.T) {
	counts := []string{"read", "upserted", "unchanged", "skipped", "failed"}
	for _, tc := range []struct {
		name    string
		rec     RunRecord
		present bool
	}{
		{"runner record with zero counts", RunRecord{RunID: "r1", Phase: RunPhaseSucceeded}, true},
		{"runner record with counts", RunRecord{RunID: "r2", Phase: RunPhaseSucceeded, Read: 5, Upserted: 4, Failed: 1}, true},
		{"controller record for a dead runner", RunRecord{RunID: "r3", Phase: RunPhaseFailed, Reason: "OOMKilled", CountsUnknown: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			for _, v := range []any{tc.rec, &tc.rec} { // value and pointer encode alike
				raw, err := json.Marshal(v)
				g.Expect(err).NotTo(HaveOccurred())
				var m map[string]any
				g.Expect(json.Unmarshal(raw, &m)).To(Succeed())
				g.Expect(m).To(HaveKeyWithValue("runId", tc.rec.RunID))
				g.Expect(m).To(HaveKeyWithValue("phase", string(tc.rec.Phase)))
				for _, c := range counts {
					if tc.present {
						g.Expect(m).To(HaveKey(c))
					} else {
						g.Expect(m).NotTo(HaveKey(c))
					}
				}
				g.Expect(m).NotTo(HaveKey("deleted"), "deleted 0 is left out either way")
				var back RunRecord
				g.Expect(json.Unmarshal(raw, &back)).To(Succeed())
				g.Expect(back).To(Equal(tc.rec))
			}
		})
	}
}
