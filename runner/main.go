// Command runner runs one checkpointed sync of a SyncJob, in a cluster (the CronJob's
// Pod) or locally from a file. See package cli for the commands.
package main

import (
	"os"

	"github.com/checkpointed/checkpointed/runner/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
