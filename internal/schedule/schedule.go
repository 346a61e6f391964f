// Package schedule checks a SyncJob's cron schedule and time zone the way the CronJob
// controller will read them, and computes the times that decide staleness.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts what the Kubernetes CronJob controller accepts: five fields and the
// @-descriptors.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed schedule in its time zone.
type Schedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// Parse checks spec (cron syntax) and zone (IANA name, "" for UTC). The error names the
// field at fault: "spec.schedule ..." or "spec.timeZone ...".
func Parse(spec, zone string) (*Schedule, error) {
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("spec.schedule %q: set the zone in spec.timeZone, not with TZ= in the schedule", spec)
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("spec.timeZone %q is not a known IANA time zone", zone)
		}
		loc = l
	}
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("spec.schedule %q is not a valid cron schedule: %w", spec, err)
	}
	return &Schedule{sched: s, loc: loc}, nil
}

// Next returns the first scheduled time after t.
func (s *Schedule) Next(t time.Time) time.Time { return s.sched.Next(t.In(s.loc)) }

// StaleAfter returns the time from which a SyncJob whose last success was at last is
// stale: the second scheduled time after last, i.e. two schedule intervals were missed.
func (s *Schedule) StaleAfter(last time.Time) time.Time {
	return s.Next(s.Next(last))
}
