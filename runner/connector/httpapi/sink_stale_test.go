package httpapi

import (
	"errors"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/runner/connector"
)

// TestSinkStaleOnlyWhenDeclared: a 409 is a stale write only when the answer matches the
// spec's staleWhen (status and body text); a 409 for another reason (the CRM holds
// nothing newer for the key) is a record error with the API's status and message, and
// without staleWhen no 409 is stale.
func TestSinkStaleOnlyWhenDeclared(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range []struct {
				name      string
				staleWhen *StaleMatch
				message   string
				want      connector.Outcome
			}{
				{"declared body matches", &StaleMatch{Statuses: []int{409}, BodyContains: "stale write refused"}, "stale write refused: stored version is newer", connector.Stale},
				{"declared body does not match", &StaleMatch{Statuses: []int{409}, BodyContains: "stale write refused"}, "record locked by another integration", connector.Failed},
				{"status not declared", &StaleMatch{Statuses: []int{412}, BodyContains: "stale write refused"}, "stale write refused: stored version is newer", connector.Failed},
				{"no staleWhen", nil, "stale write refused: stored version is newer", connector.Failed},
			} {
				t.Run(tc.name, func(t *testing.T) {
					g := NewWithT(t)
					crm := newFakeCRM(t)
					sink := crm.sink(t, mode, func(c *SinkConfig) { c.StaleWhen = tc.staleWhen })
					crm.conflict["billing:b"] = tc.message

					res, err := sink.Upsert(t.Context(), []connector.WriteRecord{wrec("a", 1, "1"), wrec("b", 1, "2")})
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(outcomes(res)).To(Equal([]connector.Outcome{connector.Written, tc.want}))
					var re *connector.RecordError
					g.Expect(errors.As(res[1].Err, &re)).To(BeTrue())
					g.Expect(re.ID).To(Equal("b"))
					g.Expect(re.Detail).To(ContainSubstring(tc.message))
					if tc.want == connector.Failed {
						g.Expect(re.Reason).To(Equal("rejected by the API (409)"))
					} else {
						g.Expect(re.Reason).To(Equal("stale write refused by the API (409)"))
					}
				})
			}
		})
	}
}

// TestStaleMatchValidate: staleWhen needs a status (409 or 412) and a body text.
func TestStaleMatchValidate(t *testing.T) {
	g := NewWithT(t)
	crm := newFakeCRM(t)
	for _, tc := range []struct {
		m    StaleMatch
		want string
	}{
		{StaleMatch{BodyContains: "stale"}, "staleWhen.status must list 409 or 412"},
		{StaleMatch{Statuses: []int{http.StatusBadRequest}, BodyContains: "stale"}, "staleWhen.status may list only 409 and 412, not 400"},
		{StaleMatch{Statuses: []int{409}}, "staleWhen.bodyContains must be set"},
	} {
		cfg := crm.spec(ModeUpsert)
		cfg.StaleWhen = &tc.m
		g.Expect(cfg.Validate()).To(MatchError(tc.want))
	}
}
