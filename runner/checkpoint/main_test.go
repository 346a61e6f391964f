package checkpoint

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/checkpointed/checkpointed/internal/kubeapi"
	"github.com/checkpointed/checkpointed/test/kubetest"
)

// lockHelperEnv, when set to a directory, turns the test binary into a child process that
// takes the FileLock there, reports "locked" on stdout and waits to be killed.
const lockHelperEnv = "CHECKPOINT_TEST_LOCK_HELPER_DIR"

// cluster is the envtest control plane, started on first use by kube and stopped by
// TestMain, so that the file tests do not pay for it.
var cluster struct {
	once sync.Once
	env  *kubetest.Env
	err  error
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		os.Exit(lockHelper(dir))
	}
	code := m.Run()
	if cluster.env != nil {
		if err := cluster.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// lockHelper takes the lock in dir and blocks until the process is killed.
func lockHelper(dir string) int {
	_, _, err := NewFileLock(dir).Acquire(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("locked")
	select {}
}

// kube returns a clientset for the shared envtest control plane and a fresh namespace.
func kube(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	cluster.once.Do(func() { cluster.env, cluster.err = kubetest.Start() })
	if cluster.err != nil {
		t.Fatalf("start envtest: %v", cluster.err)
	}
	cs, err := kubernetes.NewForConfig(cluster.env.Config)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "checkpoint-"}}
	ns, err = cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return cs, ns.Name
}

// runnerClient returns the runner's API client (internal/kubeapi) for the shared control
// plane, which kube has started.
func runnerClient(t *testing.T) *kubeapi.Client {
	t.Helper()
	c, err := kubeapi.New(cluster.env.Config)
	if err != nil {
		t.Fatalf("kube API client: %v", err)
	}
	return c
}

// configMaps are the ConfigMaps of ns through the runner's API client: the stores under
// test use what the runner uses.
func configMaps(t *testing.T, ns string) kubeapi.ConfigMaps { return runnerClient(t).ConfigMaps(ns) }

// leases are the Leases of ns through the runner's API client.
func leases(t *testing.T, ns string) kubeapi.Leases { return runnerClient(t).Leases(ns) }
