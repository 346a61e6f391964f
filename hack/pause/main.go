// Command pause is the pod sandbox process of the local cluster (the image the container
// runtime starts first in every Pod to hold its namespaces). It blocks until SIGTERM or
// SIGINT and then exits 0; while it runs as PID 1 of a Pod with a shared process namespace
// it reaps orphaned children so they do not linger as zombies.
//
// It exists because no registry is reachable from the machines this project is tested on,
// so the usual registry.k8s.io/pause image has to be built locally (see hack/imagebuild).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every child that has exited, without blocking on those still running.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
