package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"testing"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/checkpointed/checkpointed/test/kubetest"
	"github.com/checkpointed/checkpointed/test/pgtest"
)

// What TestMain set up, shared read-only by the tests.
var (
	// repoRoot is the checkout's top directory.
	repoRoot string
	// kubectlBin is kubectl v1.37.2 from the control-plane cache (matches the cluster).
	kubectlBin string
	// kubeconfig is the cluster's admin kubeconfig.
	kubeconfig string
	// restConfig is the admin's connection to the cluster.
	restConfig *rest.Config
	// kube is a client of the cluster as its admin, with the SyncJob API in its scheme.
	kube client.Client
	// clientset is the same identity as a typed clientset (Pod logs).
	clientset kubernetes.Interface
	// pg is the PostgreSQL server of the tests' databases.
	pg *pgtest.Server
	// podHost is the address at which runner Pods reach pg: the pod bridge's gateway.
	podHost string
	// runnerPassword is the password of runnerRole, which the Pods log in as.
	runnerPassword string
)

// runnerRole is the PostgreSQL role the runner Pods log in as (password authentication,
// only from the pod network); it owns the tests' databases.
const runnerRole = "e2e_runner"

// bridge is the CNI bridge of the local cluster (hack/cluster/lib.sh); its address is the
// pods' gateway to this machine.
const bridge = "cni0"

// The scripts' bounds: a machine's first up.sh builds the Kubernetes binaries.
const (
	imagesTimeout = 10 * time.Minute
	upTimeout     = 30 * time.Minute
	deployTimeout = 5 * time.Minute
	downTimeout   = 3 * time.Minute
	// lockTimeout bounds the wait for another e2e run on this machine.
	lockTimeout = 20 * time.Minute
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests mostly wait for the cluster: let them all wait at once, unless -parallel
	// was given.
	if !flagSet("test.parallel") {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(runMain(m))
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runMain brings everything up, runs the tests and tears everything down; it returns the
// exit code.
func runMain(m *testing.M) int {
	repoRoot = kubetest.RepoRoot()
	ctrllog.SetLogger(logr.Discard())
	if os.Geteuid() != 0 {
		logf("FAIL: the e2e tests run a real cluster (containerd, kubelet, iptables) and need root: run them as root (make test-e2e)")
		return 1
	}
	keep := os.Getenv("E2E_KEEP_CLUSTER") == "1"
	// There is one local cluster per machine: a second e2e run (another checkout's
	// `make test`) waits for this one instead of tearing the cluster down under it.
	lock, err := lockSuite(lockTimeout)
	if err != nil {
		logf("FAIL: %v", err)
		return 1
	}
	defer lock.Close()
	guardDone := func() {}
	if !keep {
		// A test binary that ends any other way than through here (a panic, go test's
		// -timeout, a signal) runs no deferred function: a guard process brings the
		// cluster down then.
		if guardDone, err = startGuard(lock); err != nil {
			logf("FAIL: %v", err)
			return 1
		}
	}
	defer func() {
		if pg != nil {
			if err := pg.Stop(); err != nil {
				logf("stop PostgreSQL: %v", err)
			}
		}
		if keep {
			logf("E2E_KEEP_CLUSTER=1: the cluster stays up (KUBECONFIG=%s; hack/cluster/down.sh stops it)", kubeconfig)
			return
		}
		if err := script(downTimeout, "hack/cluster/down.sh"); err != nil {
			logf("bring the cluster down: %v", err)
		}
		guardDone()
	}()

	if err := setUp(); err != nil {
		logf("FAIL: %v", err)
		return 1
	}
	return m.Run()
}

// suiteLock is the machine-wide lock of e2e runs (outside the cluster's work dir, which
// down.sh empties).
const suiteLock = "/var/tmp/checkpointed-e2e.lock"

// lockSuite takes suiteLock, waiting (bounded) while another e2e run holds it. The lock
// is held as long as the returned file is open in this process or in the teardown guard,
// which inherits it: a second run never brings the cluster up while a guard brings it down.
func lockSuite(timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(suiteLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", suiteLock, err)
	}
	deadline := time.Now().Add(timeout)
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s (another e2e run on this machine?): %w", suiteLock, err)
		}
		if !waited {
			logf("another e2e run holds %s: waiting for it (at most %s)", suiteLock, timeout)
		}
		time.Sleep(time.Second)
	}
}

// startGuard starts a process that waits for this test binary to end and, unless done was
// called first, brings the cluster down (its output goes to logs/e2e-guard.out in the
// cluster's work dir). It holds the read end of a pipe whose write end only this process
// has: however the process ends, the guard reads either "done" or end-of-file. It also
// holds the suite lock until it has finished.
func startGuard(lock *os.File) (done func(), err error) {
	logDir := filepath.Join(clusterDir(), "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("teardown guard: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, "e2e-guard.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("teardown guard: %w", err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("teardown guard: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/bash", "-c", `read -r line
if [ "$line" != done ]; then
  echo "[$(date +%T)] the e2e test binary ended without tearing down: bringing the cluster down"
  exec "$0"
fi`, filepath.Join(repoRoot, "hack", "cluster", "down.sh"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, logFile, logFile
	cmd.ExtraFiles = []*os.File{lock}
	cmd.Dir = repoRoot
	// Its own session: a Ctrl-C to go test does not stop the guard.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start the teardown guard: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return func() {
		fmt.Fprintln(w, "done")
		w.Close()
	}, nil
}

// setUp builds the images, brings the cluster up, deploys the operator and starts the
// PostgreSQL server the runner Pods reach.
func setUp() error {
	start := time.Now()
	logf("building the images and bringing the local cluster up (a machine's first run builds Kubernetes from source: about 10 minutes; later runs about 1 minute)")
	if err := script(imagesTimeout, "hack/cluster/images.sh"); err != nil {
		return fmt.Errorf("build the images: %w", err)
	}
	if err := script(upTimeout, "hack/cluster/up.sh"); err != nil {
		return fmt.Errorf("the local cluster did not come up: %w (component logs in %s/logs)", err, clusterDir())
	}
	if err := script(deployTimeout, "hack/cluster/deploy.sh"); err != nil {
		return fmt.Errorf("the operator did not deploy: %w", err)
	}
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "control-plane.sh"), "kubectl").Output()
	if err != nil {
		return fmt.Errorf("find kubectl: %w", err)
	}
	kubectlBin = filepath.Join(strings.TrimSpace(string(out)), "kubectl")
	kubeconfig = filepath.Join(clusterDir(), "admin.kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	if err := newClients(cfg); err != nil {
		return err
	}
	if err := startPostgres(); err != nil {
		return err
	}
	logf("set up in %s: cluster, operator, PostgreSQL at 127.0.0.1:%d and %s:%d for pods",
		time.Since(start).Round(time.Second), pg.Port(), podHost, pg.Port())
	return nil
}

func newClients(cfg *rest.Config) error {
	cfg.QPS, cfg.Burst = 50, 100
	c, err := client.New(cfg, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		return fmt.Errorf("client of the cluster: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("clientset of the cluster: %w", err)
	}
	kube, clientset, restConfig = c, cs, cfg
	return nil
}

// startPostgres starts the tests' server on loopback and on the pod bridge's address,
// where only runnerRole may log in, with a password, from the pod network.
func startPostgres() error {
	gw, podNet, err := bridgeAddress(30 * time.Second)
	if err != nil {
		return err
	}
	podHost = gw.String()
	runnerPassword = randomHex(16)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err = pgtest.Start(ctx, pgtest.Options{
		Settings: map[string]string{"listen_addresses": "127.0.0.1," + podHost},
		HBA:      []string{fmt.Sprintf("host all %s %s scram-sha-256", runnerRole, podNet)},
	})
	if err != nil {
		return fmt.Errorf("start PostgreSQL for the pods: %w", err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The password is hex: safe inside a literal.
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", runnerRole, runnerPassword)); err != nil {
		return fmt.Errorf("create role %s: %w", runnerRole, err)
	}
	// Prove the pods' way in: the bridge address, password authentication.
	viaBridge, err := pgx.Connect(ctx, podDSN("postgres"))
	if err != nil {
		return fmt.Errorf("PostgreSQL is not reachable at the pods' address %s:%d: %w", podHost, pg.Port(), err)
	}
	return viaBridge.Close(ctx)
}

// bridgeAddress waits (bounded) for the pod bridge to have its IPv4 address, which the
// CNI plugin gives it with the first pod, and returns it with the pod network.
func bridgeAddress(timeout time.Duration) (net.IP, *net.IPNet, error) {
	deadline := time.Now().Add(timeout)
	for {
		if iface, err := net.InterfaceByName(bridge); err == nil {
			addrs, err := iface.Addrs()
			if err != nil {
				return nil, nil, fmt.Errorf("addresses of %s: %w", bridge, err)
			}
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
					return n.IP, &net.IPNet{IP: n.IP.Mask(n.Mask), Mask: n.Mask}, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("the pod bridge %s has no IPv4 address after %s (is a pod running?)", bridge, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podDSN is the connection URL of database db for the runner Pods.
func podDSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=10",
		runnerRole, runnerPassword, net.JoinHostPort(podHost, fmt.Sprint(pg.Port())), db)
}

// localDSN is the connection URL of database db for the tests, as runnerRole over loopback.
func localDSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", runnerRole, pg.Port(), db)
}

// script runs a script of the checkout with its output on stderr, bounded by timeout.
func script(timeout time.Duration, path string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	logf("%s %s", path, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, path), args...)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not finish within %s", path, timeout)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	logf("%s done in %s", path, time.Since(start).Round(time.Second))
	return nil
}

// clusterDir is the local cluster's work dir (hack/cluster/lib.sh).
func clusterDir() string {
	if d := os.Getenv("CHECKPOINTED_CLUSTER_DIR"); d != "" {
		return d
	}
	return "/var/tmp/checkpointed-cluster"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] e2e: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kubectl runs kubectl as the cluster's admin and returns its stdout; stderr is in the
// error.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
