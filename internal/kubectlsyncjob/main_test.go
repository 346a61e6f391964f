package kubectlsyncjob

import (
	"fmt"
	"os"
	"testing"

	"github.com/checkpointed/checkpointed/test/kubetest"
)

// kube is the envtest apiserver the plugin talks to in the request, wait and status tests.
var kube *kubetest.Env

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	kube, err = kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = kube.Stop() }()
	return m.Run()
}
