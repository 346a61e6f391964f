package kubeapi

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// TestApplySyncJobStatusRefusesOtherKinds: only a SyncJob's status is applied; another
// kind is refused before any request (the host here answers nothing).
func TestApplySyncJobStatusRefusesOtherKinds(t *testing.T) {
	g := NewWithT(t)
	c, err := New(&rest.Config{Host: "http://127.0.0.1:1"})
	g.Expect(err).NotTo(HaveOccurred())
	for _, apiVersion := range []string{"v1", "sync.checkpointed.io/v1beta1"} {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion(apiVersion)
		obj.SetKind("SyncJob")
		obj.SetNamespace("ns")
		obj.SetName("sj1")
		g.Expect(c.ApplySyncJobStatus(context.Background(), obj, "checkpointed-runner")).
			To(MatchError("apply SyncJob status: the object is a " + apiVersion + " SyncJob, not a sync.checkpointed.io/v1alpha1 SyncJob"))
	}
}
