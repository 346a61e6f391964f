package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/checkpointed/checkpointed/internal/runcontract"
)

// TestPreflightCreationIsNoTrigger: the creation of a preflight Job (the controller's own,
// already in status.preflight) brings no reconcile; that of any other Job of a run does
// (a CronJob's scheduled run, a Job made by hand).
func TestPreflightCreationIsNoTrigger(t *testing.T) {
	g := NewWithT(t)
	p := notPreflightCreate()
	job := func(labels map[string]string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Labels: labels}}
	}
	g.Expect(p.Create(event.CreateEvent{Object: job(map[string]string{runcontract.LabelJob: "a", runcontract.LabelPreflight: "1"})})).To(BeFalse())
	g.Expect(p.Create(event.CreateEvent{Object: job(map[string]string{runcontract.LabelJob: "a"})})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: job(map[string]string{runcontract.LabelPreflight: "1"}),
		ObjectNew: job(map[string]string{runcontract.LabelPreflight: "1"})})).To(BeTrue(), "a preflight Job's changes still trigger")
}
