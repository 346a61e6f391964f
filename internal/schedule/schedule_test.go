package schedule

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, spec, zone, wantErr string
	}{
		{name: "five fields", spec: "0 2 * * *"},
		{name: "descriptor", spec: "@hourly"},
		{name: "zone", spec: "0 2 * * *", zone: "Europe/Berlin"},
		{name: "garbage", spec: "every night", wantErr: `spec.schedule "every night" is not a valid cron schedule`},
		{name: "six fields", spec: "0 0 2 * * *", wantErr: "spec.schedule"},
		{name: "out of range", spec: "61 * * * *", wantErr: "spec.schedule"},
		{name: "TZ prefix", spec: "TZ=UTC 0 2 * * *", wantErr: "spec.timeZone, not with TZ="},
		{name: "unknown zone", spec: "0 2 * * *", zone: "Mars/Olympus", wantErr: `spec.timeZone "Mars/Olympus" is not a known IANA time zone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Parse(tc.spec, tc.zone)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

func TestNextHonoursZone(t *testing.T) {
	g := NewWithT(t)
	s, err := Parse("0 2 * * *", "Europe/Berlin")
	g.Expect(err).NotTo(HaveOccurred())
	// 2026-07-01 02:00 in Berlin (CEST, UTC+2) is 00:00 UTC.
	next := s.Next(time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC))
	g.Expect(next.UTC()).To(Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)))
}

func TestStaleAfter(t *testing.T) {
	g := NewWithT(t)
	s, err := Parse("0 * * * *", "")
	g.Expect(err).NotTo(HaveOccurred())
	last := time.Date(2026, 7, 1, 10, 0, 5, 0, time.UTC)
	g.Expect(s.StaleAfter(last)).To(Equal(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)))
}
