// Command kubectl-syncjob is the `kubectl syncjob` plugin (put it on PATH): it answers
// did it run, how far did it get and what next for a SyncJob, and makes the operator
// requests. See internal/kubectlsyncjob.
package main

import (
	"os"

	"github.com/checkpointed/checkpointed/internal/kubectlsyncjob"
)

func main() {
	os.Exit(kubectlsyncjob.Main(os.Args[1:], os.Stdout, os.Stderr, nil))
}
