package layout

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// runnerForbidden are the packages the runner binary must not link: each costs start time
// on every run (client-go's clientset registers every API group in its scheme's init,
// controller-runtime's client and Prometheus bring their own), and the runner needs none
// of them: it talks to the apiserver through internal/kubeapi (client-go's rest alone).
var runnerForbidden = []string{
	"k8s.io/client-go/kubernetes",
	"sigs.k8s.io/controller-runtime/pkg/client",
	"github.com/prometheus/client_golang",
}

// forbiddenIn returns the packages of deps that are, or are under, one of forbidden.
func forbiddenIn(deps, forbidden []string) []string {
	var out []string
	for _, d := range deps {
		if matchesAny(d, forbidden) {
			out = append(out, d)
		}
	}
	return out
}

// TestRunnerBinaryLinksNoHeavyClients: the runner's main package, without tests, depends
// on none of runnerForbidden.
func TestRunnerBinaryLinksNoHeavyClients(t *testing.T) {
	g := NewWithT(t)
	cmd := exec.Command("go", "list", "-deps", module+"/runner")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred(), "go list: %s", stderr.String())
	deps := strings.Fields(string(out))
	g.Expect(deps).To(ContainElements("k8s.io/client-go/rest", module+"/internal/kubeapi"), "go list saw the runner's client")
	g.Expect(forbiddenIn(deps, runnerForbidden)).To(BeEmpty())
}

// TestRunnerForbiddenCatchesTheHeavyClients proves the check fails on each of them and
// lets through what the runner needs.
func TestRunnerForbiddenCatchesTheHeavyClients(t *testing.T) {
	g := NewWithT(t)
	for _, d := range []string{
		"k8s.io/client-go/kubernetes", "k8s.io/client-go/kubernetes/scheme", "k8s.io/client-go/kubernetes/typed/core/v1",
		"sigs.k8s.io/controller-runtime/pkg/client", "sigs.k8s.io/controller-runtime/pkg/client/apiutil",
		"github.com/prometheus/client_golang/prometheus",
	} {
		g.Expect(forbiddenIn([]string{d}, runnerForbidden)).To(Equal([]string{d}), "%s must be refused", d)
	}
	for _, d := range []string{
		"k8s.io/client-go/rest", "k8s.io/client-go/transport", "k8s.io/api/core/v1", "k8s.io/apimachinery/pkg/runtime",
		"sigs.k8s.io/controller-runtime/pkg/scheme", "github.com/prometheus/client_model/go",
	} {
		g.Expect(forbiddenIn([]string{d}, runnerForbidden)).To(BeEmpty(), "%s is allowed", d)
	}
}
