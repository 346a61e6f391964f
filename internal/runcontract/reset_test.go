package runcontract

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/checkpointed/checkpointed/internal/cursor"
)

func TestParseResetTarget(t *testing.T) {
	for _, tc := range []struct {
		to      string
		want    *cursor.Cursor
		wantErr string
	}{
		{to: "beginning"},
		{to: "2026-06-01T02:00:00+02:00", want: &cursor.Cursor{UpdatedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}},
		{to: "2026-06-01T00:00:00.123456Z", want: &cursor.Cursor{UpdatedAt: time.Date(2026, 6, 1, 0, 0, 0, 123456000, time.UTC)}},
		{to: "", wantErr: "reset needs a target"},
		{to: "last tuesday", wantErr: `"last tuesday" is neither 'beginning' nor an RFC3339 time`},
		{to: "Beginning", wantErr: "neither 'beginning'"},
	} {
		g := NewWithT(t)
		got, err := ParseResetTarget(tc.to)
		if tc.wantErr != "" {
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)), tc.to)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), tc.to)
		g.Expect(got).To(Equal(tc.want), tc.to)
	}
}

func TestParseClearFailedKeys(t *testing.T) {
	for v, want := range map[string]bool{"": false, "false": false, "true": true} {
		got, err := ParseClearFailedKeys(v)
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), v)
		NewWithT(t).Expect(got).To(Equal(want), v)
	}
	for _, v := range []string{"yes", "True", "1"} {
		_, err := ParseClearFailedKeys(v)
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring(`is neither 'true' nor 'false'`)), v)
	}
}
