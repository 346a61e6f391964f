// Command runner runs one checkpointed sync of a SyncJob, in a cluster (the CronJob's
// Pod) or locally from a file. See package cli for the commands.
package main

import (
	// Time-zone data in the binary: images FROM scratch have no /usr/share/zoneinfo, and
	// schedules and source columns name IANA zones.
	_ "time/tzdata"

	"os"

	"github.com/checkpointed/checkpointed/runner/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
