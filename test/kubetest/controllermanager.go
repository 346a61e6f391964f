package kubetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManager is a kube-controller-manager running against an Env.
type ControllerManager struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// StartControllerManager runs kube-controller-manager (from the same assets directory)
// against env with only the named controllers, for example "garbagecollector" so that
// deleting an owner removes what it owns, or "cronjob,job,serviceaccount". Its output goes
// to a log file in a temp dir, shown in the error if it exits early.
func (e *Env) StartControllerManager(controllers ...string) (*ControllerManager, error) {
	user, err := e.AddUser(envtest.User{Name: "kcm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add kube-controller-manager user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for kube-controller-manager: %w", err)
	}
	dir, err := os.MkdirTemp("", "kcm-")
	if err != nil {
		return nil, err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "kcm.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(e.BinaryAssetsDirectory, "kube-controller-manager"),
		"--kubeconfig="+kcPath,
		"--authentication-kubeconfig="+kcPath,
		"--authorization-kubeconfig="+kcPath,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--concurrent-gc-syncs=5",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test binary even if it is killed without running Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kube-controller-manager: %w", err)
	}
	cm := &ControllerManager{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(cm.done) }()
	select {
	case <-cm.done:
		out, _ := os.ReadFile(filepath.Join(dir, "kcm.log"))
		return nil, fmt.Errorf("kube-controller-manager exited at start:\n%s", out)
	case <-time.After(time.Second):
	}
	return cm, nil
}

// Stop ends kube-controller-manager and removes its files. Stop it before the Env.
func (c *ControllerManager) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = os.RemoveAll(c.dir)
}
