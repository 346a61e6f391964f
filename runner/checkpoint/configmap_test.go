package checkpoint

import (
	"context"
	"errors"
	"testing"

	"github.com/checkpointed/checkpointed/internal/runcontract"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// createCheckpointConfigMap creates <job>-checkpoint the way the controller does.
func createCheckpointConfigMap(g *WithT, cs kubernetes.Interface, ns, job string, data map[string]string) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: runcontract.CheckpointConfigMapName(job), Namespace: ns}, Data: data}
	_, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
}

func TestConfigMapStoreRoundTrip(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	createCheckpointConfigMap(g, cs, ns, "sj1", map[string]string{"note": "kept"})
	s := NewConfigMapStore(configMaps(t, ns), ns, "sj1")

	st, err := s.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st).To(Equal(runcontract.Checkpoint{}), "a missing key is a zero state")

	g.Expect(s.Save(ctx, sampleState())).To(Succeed())
	g.Expect(s.Save(ctx, sampleState())).To(Succeed(), "a store's own save moves its resourceVersion")

	got, err := NewConfigMapStore(configMaps(t, ns), ns, "sj1").Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	want := sampleState()
	want.Job = "sj1"
	g.Expect(got).To(Equal(want))

	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "sj1-checkpoint", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Data).To(HaveKeyWithValue("note", "kept"), "other keys survive")
	g.Expect(cm.Data[runcontract.CheckpointKey]).To(HavePrefix("{\n  \"job\": \"sj1\",\n  \"cursor\": {\n"), "indented, stable field order")
}

func TestConfigMapStoreConflict(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)
	createCheckpointConfigMap(g, cs, ns, "sj1", nil)
	a, b := NewConfigMapStore(configMaps(t, ns), ns, "sj1"), NewConfigMapStore(configMaps(t, ns), ns, "sj1")

	_, err := a.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(a.Save(ctx, sampleState())).To(Succeed())
	err = b.Save(ctx, runcontract.Checkpoint{SafetyGap: "1m"})
	g.Expect(errors.Is(err, ErrConflict)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("another runner moved it"))

	st, err := b.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.SafetyGap).To(Equal("5m"), "the first save won")
}

func TestConfigMapStoreErrors(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cs, ns := kube(t)

	_, err := NewConfigMapStore(configMaps(t, ns), ns, "missing").Load(ctx)
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	g.Expect(err.Error()).To(ContainSubstring(ns + "/missing-checkpoint does not exist (the controller creates it"))

	createCheckpointConfigMap(g, cs, ns, "corrupt", map[string]string{runcontract.CheckpointKey: "{not json"})
	_, err = NewConfigMapStore(configMaps(t, ns), ns, "corrupt").Load(ctx)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("ConfigMap " + ns + "/corrupt-checkpoint key checkpoint.json does not hold a valid checkpoint"))

	// A present key must hold a checkpoint: blank, null or {} is refused, naming the store,
	// never read as "start from the beginning" (a missing key is a fresh start, above).
	for name, data := range map[string]string{"blank": "  \n", "null": "null", "empty-object": "{}", "no-job": `{"safetyGap": "5m"}`} {
		createCheckpointConfigMap(g, cs, ns, name, map[string]string{runcontract.CheckpointKey: data})
		_, err = NewConfigMapStore(configMaps(t, ns), ns, name).Load(ctx)
		g.Expect(err).To(MatchError(ContainSubstring("ConfigMap "+ns+"/"+name+"-checkpoint key checkpoint.json does not hold a valid checkpoint")), name)
	}

	createCheckpointConfigMap(g, cs, ns, "fresh", nil)
	g.Expect(NewConfigMapStore(configMaps(t, ns), ns, "fresh").Save(ctx, runcontract.Checkpoint{})).To(MatchError(ContainSubstring("Load was never called")))

	// A ConfigMap deleted under a loaded store is a conflict, not a silent re-create.
	s := NewConfigMapStore(configMaps(t, ns), ns, "fresh")
	_, err = s.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cs.CoreV1().ConfigMaps(ns).Delete(ctx, "fresh-checkpoint", metav1.DeleteOptions{})).To(Succeed())
	g.Expect(errors.Is(s.Save(ctx, runcontract.Checkpoint{}), ErrConflict)).To(BeTrue())
}
