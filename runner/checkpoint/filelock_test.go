package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
)

func TestFileLockExcludes(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")

	held, release, err := NewFileLock(dir).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(held.Err()).NotTo(HaveOccurred())

	_, _, err = NewFileLock(dir).Acquire(ctx)
	g.Expect(errors.Is(err, ErrLocked)).To(BeTrue(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("process " + strconv.Itoa(os.Getpid())))

	release()
	g.Expect(held.Done()).To(BeClosed(), "release cancels the held context")
	release() // idempotent

	_, release2, err := NewFileLock(dir).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "free again after release")
	release2()
}

// TestFileLockReleasedWhenHolderDies runs this test binary as a child that takes the lock
// and is then SIGKILLed: the operating system drops the lock with the process.
func TestFileLockReleasedWhenHolderDies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	dir := t.TempDir()

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	out, err := child.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	child.Stderr = os.Stderr
	g.Expect(child.Start()).To(Succeed())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	line, err := bufio.NewReader(out).ReadString('\n')
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(line).To(Equal("locked\n"))

	_, _, err = NewFileLock(dir).Acquire(ctx)
	g.Expect(errors.Is(err, ErrLocked)).To(BeTrue(), "held by the child: %v", err)
	g.Expect(err.Error()).To(ContainSubstring("process " + strconv.Itoa(child.Process.Pid)))

	g.Expect(child.Process.Kill()).To(Succeed()) // SIGKILL: no cleanup runs in the child
	_ = child.Wait()

	_, release, err := NewFileLock(dir).Acquire(ctx)
	g.Expect(err).NotTo(HaveOccurred(), "the dead child's lock is gone")
	release()
}
