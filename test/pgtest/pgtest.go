// Package pgtest starts a real, throw-away PostgreSQL server for tests and benchmarks.
//
// A server lives in its own temporary directory (data directory, unix socket directory and
// server log), listens on a free loopback port (127.0.0.1) with trust authentication, and
// runs with fsync on. Start it once per test binary (in TestMain) and give each test its
// own database with CreateDB; initdb takes about a second.
//
// When the process runs as root, initdb and the server run as the "postgres" user if it
// exists, otherwise as "nobody", because PostgreSQL refuses to run as root.
//
// Lifetime: Stop shuts the server down and removes its directory; it is idempotent. If the
// process that started the server dies without calling Stop (a test binary killed by a
// timeout, a benchmark interrupted), the kernel signals the server to shut down (the
// parent-death signal), so no server outlives its test binary; the directory it leaves
// behind is removed by the next Start in any process.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the server's superuser role; DSN connects as it.
const Superuser = "postgres"

// dirPrefix names the temporary directories of servers, so stale ones can be found.
const dirPrefix = "pgtest-"

// ownerFile in a server directory holds the pid of the process that started the server.
const ownerFile = "owner.pid"

// Options tune a server. The zero value is a good test server.
type Options struct {
	// Settings are server settings passed as `-c name=value`, overriding the defaults
	// (fsync=on, TimeZone=UTC, shared_buffers=64MB, max_connections=50; synchronous_commit
	// keeps the server default, on). For example {"synchronous_commit": "off"}.
	Settings map[string]string
	// HBA lines are put in pg_hba.conf before the lines that trust every local and
	// loopback connection, for tests that need password authentication, for example
	// "host all alice 127.0.0.1/32 scram-sha-256".
	HBA []string
	// StartTimeout bounds how long Start waits for the server to accept connections.
	// Defaults to 60s.
	StartTimeout time.Duration
}

// Server is a running PostgreSQL server. Its methods are safe for concurrent use.
type Server struct {
	dir     string
	dataDir string
	sockDir string
	port    int

	exited  chan struct{} // closed when the postgres process has exited
	waitErr error         // the process's exit status, set before exited is closed
	pid     int

	stopOnce sync.Once
	stopErr  error
}

// StartT starts a server for one test or benchmark and stops it when the test ends. It
// fails the test if the server does not start.
func StartT(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop postgres: %v", err)
		}
	})
	return s
}

// Start runs initdb in a new temporary directory and starts a server on a free loopback
// port. The caller must call Stop (TestMain: after m.Run). The context bounds the start
// only; the server runs until Stop or until the calling process exits.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	runAs, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()

	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create postgres test directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", ownerFile, err)
	}
	s := &Server{dir: dir, dataDir: filepath.Join(dir, "data"), sockDir: filepath.Join(dir, "sock")}
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if runAs != nil {
		for _, p := range []string{dir, s.sockDir} {
			if err := os.Chown(p, int(runAs.Uid), int(runAs.Gid)); err != nil {
				return nil, fmt.Errorf("give %s to uid %d: %w", p, runAs.Uid, err)
			}
		}
	}

	if err := initdb(ctx, bins.initdb, s.dataDir, runAs); err != nil {
		return nil, err
	}
	if err := writeHBA(s.dataDir, opts.HBA); err != nil {
		return nil, err
	}

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The free port is only free when we looked; another process may take it before the
	// server binds it. Retry with a new port when that happens.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.port = port
		err = s.launch(startCtx, bins.postgres, runAs, opts.Settings)
		if err == nil {
			break
		}
		if errors.Is(err, errPortTaken) && attempt < 5 {
			continue
		}
		return nil, err
	}
	ok = true
	return s, nil
}

var errPortTaken = errors.New("port taken")

type binaries struct{ initdb, postgres string }

// findBinaries looks for initdb, and postgres next to it, in /usr/local/bin, PATH and
// /usr/lib/postgresql/*/bin (newest version first).
func findBinaries() (binaries, error) {
	var candidates []string
	candidates = append(candidates, "/usr/local/bin/initdb")
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, p)
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	candidates = append(candidates, versions...)
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		pg := filepath.Join(filepath.Dir(real), "postgres")
		if _, err := os.Stat(pg); err != nil {
			return binaries{}, fmt.Errorf("found initdb at %s but no postgres binary next to it (%s)", real, pg)
		}
		return binaries{initdb: real, postgres: pg}, nil
	}
	return binaries{}, errors.New("postgres binary initdb not found in /usr/local/bin, PATH or /usr/lib/postgresql/*/bin: install PostgreSQL (for example apt-get install postgresql-15)")
}

func pgVersion(initdbPath string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdbPath))))
	return v
}

// unprivilegedUser returns the credential to run PostgreSQL with, or nil when the process
// is not root.
func unprivilegedUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var tried []string
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			tried = append(tried, fmt.Sprintf("%s: non-numeric uid/gid", name))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user to run postgres as (%s)", strings.Join(tried, "; "))
}

// command builds a command that runs as runAs (when set) with a minimal environment.
func command(ctx context.Context, runAs *syscall.Credential, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: runAs}
	return cmd
}

func initdb(ctx context.Context, bin, dataDir string, runAs *syscall.Credential) error {
	// --no-sync: the initial cluster need not survive a machine crash; the server itself
	// runs with fsync on.
	cmd := command(ctx, runAs, bin, "-D", dataDir, "-U", Superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w: %s", dataDir, err, bytes.TrimSpace(out))
	}
	return nil
}

func writeHBA(dataDir string, extra []string) error {
	var b strings.Builder
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	b.WriteString("local all all trust\nhost all all 127.0.0.1/32 trust\n")
	path := filepath.Join(dataDir, "pg_hba.conf")
	// The file belongs to the server's user; overwrite in place to keep its owner.
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the postgres process and waits until it accepts connections.
func (s *Server) launch(ctx context.Context, bin string, runAs *syscall.Credential, extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(s.port),
		"unix_socket_directories": s.sockDir,
		"fsync":                   "on",
		"TimeZone":                "UTC",
		"shared_buffers":          "64MB",
		"max_connections":         "50",
		"logging_collector":       "off",
	}
	for k, v := range extra {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", s.dataDir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}

	s.exited = make(chan struct{})
	started := make(chan error, 1)
	// The parent-death signal is delivered when the thread that started the child exits,
	// so the process is started and waited for on one locked OS thread that lives exactly
	// as long as the server.
	go func() {
		runtime.LockOSThread()
		cmd := command(nil, runAs, bin, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr.Pdeathsig = syscall.SIGINT // fast shutdown
		cmd.SysProcAttr.Setpgid = true             // keep terminal signals to the test binary away
		if err := cmd.Start(); err != nil {
			logFile.Close()
			started <- fmt.Errorf("start %s: %w", bin, err)
			close(s.exited)
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
		// Returning without UnlockOSThread ends the thread; the child is gone already.
	}()
	if err := <-started; err != nil {
		return err
	}

	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("already in use")) {
				return errPortTaken
			}
			return fmt.Errorf("postgres exited during start (%v): %s", s.waitErr, tail(log, 2000))
		case <-ctx.Done():
			_ = s.Stop()
			return fmt.Errorf("postgres did not accept connections on 127.0.0.1:%d: %w (last error: %v)", s.port, ctx.Err(), err)
		case <-time.After(delay):
		}
	}
}

func tail(b []byte, n int) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Host is the loopback address the server listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// SocketDir is the directory holding the server's unix socket.
func (s *Server) SocketDir() string { return s.sockDir }

// LogPath is the server's log file (removed by Stop).
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// DSN returns a connection URL for the superuser to database dbname over TCP.
func (s *Server) DSN(dbname string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, dbname)
}

// CreateDB creates an empty database named name.
func (s *Server) CreateDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown, then immediate after 30s) and removes its
// directory. It is idempotent: later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
	})
	return s.stopErr
}

func (s *Server) stop() error {
	if s.exited != nil {
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(s.pid, syscall.SIGINT)
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(s.pid, syscall.SIGQUIT)
				select {
				case <-s.exited:
				case <-time.After(10 * time.Second):
					_ = syscall.Kill(s.pid, syscall.SIGKILL)
					<-s.exited
				}
			}
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove %s: %w", s.dir, err)
	}
	return nil
}

// removeStaleDirs removes server directories whose starting process no longer exists
// (their server got the parent-death signal). Errors are ignored: this is housekeeping.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		// The server may still be shutting down; only remove once it is gone.
		if pidFile, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(pidFile), "\n")
			if pgPid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && syscall.Kill(pgPid, 0) == nil {
				continue
			}
		}
		_ = os.RemoveAll(d)
	}
}
