package main

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/checkpointed/checkpointed/runner/cli"
)

// The benchmark binary doubles as the runner (the same runner/cli.Main) when runnerEnv is
// set: it then reports how long cli.Main took inside the process (connecting, the run
// and the audit, without process start), and with profileEnv set it writes a CPU profile
// to <value>.cpu.pprof and a heap profile to <value>.heap.pprof.
const (
	runnerEnv  = "CHECKPOINTED_BENCH_AS_RUNNER"
	profileEnv = "CHECKPOINTED_BENCH_PROFILE"
)

// elapsedLine is the last line runner mode writes to stderr.
const elapsedLine = "bench-runner: cli.Main took %dus"

var elapsedRE = regexp.MustCompile(`bench-runner: cli\.Main took (\d+)us`)

// runAsRunner runs cli.Main with os.Args and returns its exit code.
func runAsRunner() int {
	prof := os.Getenv(profileEnv)
	if prof != "" {
		f, err := os.Create(prof + ".cpu.pprof")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-runner:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench-runner:", err)
			return 1
		}
	}
	start := time.Now()
	code := cli.Main(os.Args[1:], os.Stdout, os.Stderr)
	took := time.Since(start)
	if prof != "" {
		pprof.StopCPUProfile()
		runtime.GC()
		if f, err := os.Create(prof + ".heap.pprof"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	fmt.Fprintf(os.Stderr, elapsedLine+"\n", took.Microseconds())
	return code
}

// profiledElapsed finds the in-process time a runner-mode child reported, or 0.
func profiledElapsed(stderr string) time.Duration {
	m := elapsedRE.FindAllStringSubmatch(stderr, -1)
	if len(m) == 0 {
		return 0
	}
	us, err := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}
