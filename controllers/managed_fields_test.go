package controllers

import (
	"context"
	"encoding/json"
	"sort"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
	"github.com/checkpointed/checkpointed/internal/runcontract"
	"github.com/checkpointed/checkpointed/internal/runstatus"
	"github.com/checkpointed/checkpointed/internal/runstatus/crapi"
)

// gitOpsManager is the field manager of Argo CD's server-side apply.
const gitOpsManager = "argocd-controller"

// gitOpsApply applies sj's metadata (name, labels, annotations) and spec the way Argo CD
// does with server-side apply: no status, no force.
func gitOpsApply(g Gomega, sj *syncv1.SyncJob) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sj)
	g.Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: map[string]any{"spec": obj["spec"]}}
	u.SetAPIVersion(syncv1.GroupVersion.String())
	u.SetKind("SyncJob")
	u.SetNamespace(sj.Namespace)
	u.SetName(sj.Name)
	u.SetLabels(sj.Labels)
	u.SetAnnotations(sj.Annotations)
	g.Expect(k8sClient.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(gitOpsManager))).To(Succeed())
}

// topLevelFields lists the top-level field names of a managedFields entry ("f:status", ...).
func topLevelFields(g Gomega, e metav1.ManagedFieldsEntry) []string {
	g.Expect(e.FieldsV1).NotTo(BeNil(), "entry of %s", e.Manager)
	var fields map[string]json.RawMessage
	g.Expect(json.Unmarshal(e.FieldsV1.Raw, &fields)).To(Succeed())
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// statusFields lists the status fields an entry holds ("f:conditions", ...).
func statusFields(g Gomega, e metav1.ManagedFieldsEntry) []string {
	var fields map[string]map[string]json.RawMessage
	g.Expect(json.Unmarshal(e.FieldsV1.Raw, &fields)).To(Succeed())
	out := []string{}
	for k := range fields["f:status"] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOperatorNeverOwnsWhatGitOpsApplies: a SyncJob applied by Argo CD (server-side apply,
// field manager argocd-controller) goes through the controller's reconcile, an operator
// request (a run, annotated with kubectl), a run that died before reporting (recorded by
// the controller on the runner's behalf) and a run the runner reports itself; afterwards
// the controller (checkpointed-controller) and the runner (checkpointed-runner) each own
// exactly one managedFields entry, on the status subresource, holding nothing but status
// fields — no spec, no label, no annotation, no finalizer — so Argo CD never sees the
// SyncJob OutOfSync by the operator's hand, and its unforced re-apply meets no conflict.
func TestOperatorNeverOwnsWhatGitOpsApplies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	sj := sampleSyncJob(ns, "gitops")
	sj.Labels = map[string]string{"app.kubernetes.io/instance": "revops-syncs", "team": "revops"}
	sj.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "revops-syncs:sync.checkpointed.io/SyncJob:" + ns + "/gitops"}
	gitOpsApply(g, sj)
	key := client.ObjectKeyFromObject(sj)

	cur := &syncv1.SyncJob{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, cur)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(cur.Status.Conditions, syncv1.ConditionReady)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	generation := cur.Generation

	// An operator request, annotated by hand (kubectl annotate), handled by the controller;
	// its run dies before reporting, so the controller records it on the runner's behalf.
	g.Expect(k8sClient.Patch(ctx, cur, client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+syncv1.RunRequestedAnnotation+`":"t1"}}}`)),
		client.FieldOwner("kubectl-annotate"))).To(Succeed())
	var jobs []batchv1.Job
	g.Eventually(func(g Gomega) {
		jobs = runJobs(g, sj)
		g.Expect(jobs).To(HaveLen(1))
	}, timeout, interval).Should(Succeed())
	finishJob(g, &jobs[0], corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, corev1.PodFailed)
	waitLastRun(g, sj, runcontract.ReasonOOMKilled)

	// The runner reports its own run, through the runner's status writer.
	w := runstatus.NewWriter(crapi.New(k8sClient), ns, sj.Name, runstatus.Options{Instance: "gitops-runner-pod"})
	g.Expect(w.Publish(ctx, syncv1.RunRecord{RunID: "run-2", Trigger: runcontract.TriggerScheduled, Phase: syncv1.RunPhaseSucceeded, Read: 3, Upserted: 3},
		&syncv1.Cursor{UpdatedAt: "2026-06-30T23:55:00.123456Z", ID: "inv_10492"})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, cur)).To(Succeed())
		ready := meta.FindStatusCondition(cur.Status.Conditions, syncv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Message).To(ContainSubstring("run-2"))
		g.Expect(cur.Status.LastHandledRunRequest).To(Equal("t1"))
		g.Expect(cur.Status.LastFinishedRunRequest).To(Equal("t1"))
	}, timeout, interval).Should(Succeed())

	g.Expect(cur.Generation).To(Equal(generation), "someone wrote the spec")
	g.Expect(cur.Finalizers).To(BeEmpty(), "the controller adds no finalizer")
	g.Expect(cur.OwnerReferences).To(BeEmpty())
	g.Expect(cur.Labels).To(Equal(sj.Labels))

	owners := map[string]metav1.ManagedFieldsEntry{}
	for _, e := range cur.ManagedFields {
		switch e.Manager {
		case runcontract.ControllerFieldManager, runcontract.RunnerFieldManager:
			g.Expect(owners).NotTo(HaveKey(e.Manager), "%s owns more than one entry", e.Manager)
			owners[e.Manager] = e
			g.Expect(e.Subresource).To(Equal("status"), "%s writes beyond the status subresource", e.Manager)
			g.Expect(e.Operation).To(Equal(metav1.ManagedFieldsOperationApply), "%s", e.Manager)
			g.Expect(topLevelFields(g, e)).To(Equal([]string{"f:status"}), "%s owns fields outside status", e.Manager)
		case gitOpsManager:
			g.Expect(e.Subresource).To(BeEmpty())
			g.Expect(topLevelFields(g, e)).To(Equal([]string{"f:metadata", "f:spec"}))
		default:
			// Only the hand-made annotation, by kubectl.
			g.Expect(e.Manager).To(Equal("kubectl-annotate"))
			g.Expect(topLevelFields(g, e)).To(Equal([]string{"f:metadata"}))
		}
	}
	g.Expect(owners).To(HaveKey(runcontract.ControllerFieldManager))
	g.Expect(owners).To(HaveKey(runcontract.RunnerFieldManager))
	g.Expect(statusFields(g, owners[runcontract.ControllerFieldManager])).To(Equal([]string{
		"f:checkpointConfigMap", "f:conditions", "f:cronJobName", "f:lastFinishedRunRequest", "f:lastHandledRunRequest", "f:nextScheduledTime", "f:observedGeneration",
		"f:preflight"}))
	g.Expect(statusFields(g, owners[runcontract.RunnerFieldManager])).To(Equal([]string{
		"f:cursor", "f:history", "f:lastRun", "f:lastSuccessfulRunTime"}))

	// Argo CD's next sync re-applies the same manifest without force: no conflict, no change.
	gitOpsApply(g, sj)
	g.Expect(k8sClient.Get(ctx, key, cur)).To(Succeed())
	g.Expect(cur.Generation).To(Equal(generation))
}
