package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestStopsWhenTheWatchedPathIsGone(t *testing.T) {
	g := NewWithT(t)
	dir := filepath.Join(t.TempDir(), "demo")
	g.Expect(os.Mkdir(dir, 0o755)).To(Succeed())
	s := start(t, "-billing-addr", "127.0.0.1:0", "-crm-addr", "127.0.0.1:0", "-invoices", "5",
		"-stop-when-missing", dir, "-watch-every", "10ms")

	g.Consistently(s.done, 100*time.Millisecond).ShouldNot(Receive(), "the path is still there")
	g.Expect(os.Remove(dir)).To(Succeed())
	g.Eventually(s.done).Should(Receive(BeNil()))
	s.done <- nil // for the cleanup
}

func TestRejectsANonPositiveWatchInterval(t *testing.T) {
	g := NewWithT(t)
	g.Expect(run(t.Context(), []string{"-watch-every", "0s"}, os.Stdout, os.Stderr)).To(MatchError(ContainSubstring("-watch-every")))
}
