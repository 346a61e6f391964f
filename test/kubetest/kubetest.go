// Package kubetest starts a real kube-apiserver and etcd (envtest) for tests, with the
// SyncJob CRD installed. The binaries come from hack/control-plane.sh, which builds them
// from source on first use and reuses its cache afterwards.
package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// RepoRoot returns the checkout's top directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns a directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when set,
// otherwise the output of hack/control-plane.sh (which builds them on first use).
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "control-plane.sh"))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build control-plane binaries with hack/control-plane.sh: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// Scheme returns a scheme with the built-in types and the SyncJob API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := syncv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Env is a running envtest control plane.
type Env struct {
	*envtest.Environment
	// Config reaches the apiserver as an admin.
	Config *rest.Config
}

// Start starts kube-apiserver and etcd with the SyncJob CRD installed. Call Stop when done.
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest control plane from %s: %w", assets, err)
	}
	return &Env{Environment: env, Config: cfg}, nil
}
