package controllers

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestKubectlExplain: the field docs reach `kubectl explain` through the CRD schema.
func TestKubectlExplain(t *testing.T) {
	g := NewWithT(t)
	kubectl, err := exec.LookPath("kubectl")
	g.Expect(err).NotTo(HaveOccurred(), "kubectl is needed on PATH (make test installs it)")
	user, err := env.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())

	out, err := exec.Command(kubectl, "--kubeconfig", path, "explain", "syncjob.spec.cursor.safetyGap").CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	g.Expect(string(out)).To(ContainSubstring("SafetyGap rewinds the stored cursor at the start of each run"))
	g.Expect(string(out)).To(ContainSubstring("sync.checkpointed.io"))

	out, err = exec.Command(kubectl, "--kubeconfig", path, "explain", "sj.spec.errors.policy").CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	g.Expect(string(out)).To(ContainSubstring("Halt stops the cursor just before it"))
}
