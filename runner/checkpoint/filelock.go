package checkpoint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/gofrs/flock"
)

// LockFileName is the run lock's file name inside a FileLock's directory.
const LockFileName = "run.lock"

// FileLock is the local-mode run lock: an exclusive flock(2) on <dir>/run.lock. The
// operating system releases it when the holding process exits or dies, so a killed runner
// never leaves a stale lock behind. The file itself stays; it holds the last holder's pid
// for error messages only.
type FileLock struct {
	dir string
}

// NewFileLock returns the run lock kept in dir; the directory is created on Acquire.
func NewFileLock(dir string) *FileLock { return &FileLock{dir: dir} }

// Path returns the lock file's path.
func (l *FileLock) Path() string { return filepath.Join(l.dir, LockFileName) }

// Acquire takes the lock without waiting, or returns a wrapped ErrLocked when another
// process (or another FileLock in this one) holds it. The held context is cancelled by
// release only: a flock cannot be lost while the process lives. It carries ctx's values
// but not its cancellation. release is safe to call more than once.
func (l *FileLock) Acquire(ctx context.Context) (context.Context, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("run lock: create directory: %w", err)
	}
	fl := flock.New(l.Path())
	ok, err := fl.TryLock()
	if err != nil {
		return nil, nil, fmt.Errorf("run lock %s: %w", l.Path(), err)
	}
	if !ok {
		holder := "another process"
		if pid := readPID(l.Path()); pid != "" {
			holder = "process " + pid
		}
		return nil, nil, fmt.Errorf("run lock %s is held by %s: %w", l.Path(), holder, ErrLocked)
	}
	// Best effort: record who holds it, for the message a second runner prints.
	_ = os.WriteFile(l.Path(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)

	held, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			_ = fl.Unlock()
		})
	}
	return held, release, nil
}

// readPID returns the pid recorded in the lock file, or "" if there is none.
func readPID(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid := strings.TrimSpace(string(data))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return pid
}
