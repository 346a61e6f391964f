package runcontract

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestJobTrigger: only kubectl's manual mark turns the template's trigger into Manual.
func TestJobTrigger(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		template    string
		want        string
	}{
		{"the CronJob's own Job", map[string]string{"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-07-01T02:00:00Z"}, TriggerScheduled, TriggerScheduled},
		{"kubectl create job --from=cronjob", map[string]string{AnnotationInstantiate: "manual"}, TriggerScheduled, TriggerManual},
		{"no annotations", nil, TriggerScheduled, TriggerScheduled},
		{"another value of the mark", map[string]string{AnnotationInstantiate: "auto"}, TriggerScheduled, TriggerScheduled},
		{"a requested backfill keeps its trigger", nil, TriggerBackfill, TriggerBackfill},
		{"a requested run", nil, TriggerManual, TriggerManual},
		{"template without a trigger", nil, "", ""},
	} {
		NewWithT(t).Expect(JobTrigger(tc.annotations, tc.template)).To(Equal(tc.want), tc.name)
	}
}
