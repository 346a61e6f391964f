package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// TestAnnouncementsRememberEachConditionOnce: a condition is announced once per change of
// its status, reason or message, per SyncJob UID and per condition type, and forgetting a
// SyncJob announces its next condition again.
func TestAnnouncementsRememberEachConditionOnce(t *testing.T) {
	g := NewWithT(t)
	var a announcements
	key := types.NamespacedName{Namespace: "ns", Name: "sj"}
	other := types.NamespacedName{Namespace: "ns", Name: "other"}
	ready := metav1.Condition{Type: syncv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "RunFailed", Message: "run x failed"}
	drifted := metav1.Condition{Type: syncv1.ConditionDrifted, Status: metav1.ConditionTrue, Reason: "DriftDetected", Message: "2 keys differ"}

	steps := []struct {
		name string
		key  types.NamespacedName
		uid  types.UID
		c    metav1.Condition
		want bool
	}{
		{"first Ready", key, "u1", ready, true},
		{"same Ready again", key, "u1", ready, false},
		{"Drifted has its own slot", key, "u1", drifted, true},
		{"Ready still remembered beside Drifted", key, "u1", ready, false},
		{"another SyncJob", other, "u9", ready, true},
		{"message changed", key, "u1", with(ready, func(c *metav1.Condition) { c.Message = "run y failed" }), true},
		{"back to the first message", key, "u1", ready, true},
		{"reason changed", key, "u1", with(ready, func(c *metav1.Condition) { c.Reason = "Other" }), true},
		{"status changed", key, "u1", with(ready, func(c *metav1.Condition) { c.Reason, c.Status = "Other", metav1.ConditionTrue }), true},
		{"a re-created SyncJob (new UID)", key, "u2", with(ready, func(c *metav1.Condition) { c.Reason, c.Status = "Other", metav1.ConditionTrue }), true},
		{"an empty message", key, "u2", metav1.Condition{Type: syncv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Other"}, true},
		{"the same text split otherwise between reason and message", key, "u2", metav1.Condition{Type: syncv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Oth", Message: "er"}, true},
	}
	for _, s := range steps {
		g.Expect(a.first(s.key, s.uid, s.c)).To(Equal(s.want), s.name)
	}

	a.forget(key)
	g.Expect(a.first(key, "u2", metav1.Condition{Type: syncv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Oth", Message: "er"})).To(BeTrue(), "after forget")
	g.Expect(a.first(other, "u9", ready)).To(BeFalse(), "forget drops only its own SyncJob")
}

// with returns a copy of c changed by edit.
func with(c metav1.Condition, edit func(*metav1.Condition)) metav1.Condition {
	edit(&c)
	return c
}
