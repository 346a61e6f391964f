package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/checkpointed/checkpointed/internal/desired"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// TestRunnerNetworkPolicySample: the example NetworkPolicy is accepted by the apiserver,
// selects the runner Pods the controller builds (and not other Pods), denies all ingress
// and limits egress.
func TestRunnerNetworkPolicySample(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join(kubetest.RepoRoot(), "config", "samples", "runner_networkpolicy.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	np := &networkingv1.NetworkPolicy{}
	g.Expect(yaml.UnmarshalStrict(data, np)).To(Succeed())

	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	g.Expect(err).NotTo(HaveOccurred())
	sj := sampleSyncJob("ns", "invoices")
	podLabels := desired.CronJob(sj, desired.Options{RunnerImage: testRunner}).Spec.JobTemplate.Spec.Template.Labels
	g.Expect(sel.Matches(labels.Set(podLabels))).To(BeTrue(), "the policy does not select runner Pods %v", podLabels)
	g.Expect(sel.Matches(labels.Set{"app": "other"})).To(BeFalse())
	g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
	g.Expect(np.Spec.Ingress).To(BeEmpty())
	g.Expect(np.Spec.Egress).NotTo(BeEmpty())
	for _, e := range np.Spec.Egress {
		g.Expect(e.To).NotTo(BeEmpty(), "an egress rule to anywhere")
		g.Expect(e.Ports).NotTo(BeEmpty(), "an egress rule to any port")
	}

	np.Namespace = newNamespace(t)
	g.Expect(k8sClient.Create(context.Background(), np)).To(Succeed())
}
