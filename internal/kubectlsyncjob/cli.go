// Package kubectlsyncjob is the `kubectl syncjob` plugin: it answers the three questions
// about a SyncJob — did it run, how far did it get, what should I do next — from the
// cluster alone, and sets the exactly-once request annotations for the operator actions.
//
//	kubectl syncjob status NAME                   the three answers in plain words
//	kubectl syncjob run NAME [--wait]             run now
//	kubectl syncjob reset NAME [--to beginning|RFC3339] [--clear-failed-keys] [--wait]
//	kubectl syncjob backfill NAME --from RFC3339 --to RFC3339 [--wait]
//	kubectl syncjob history NAME                  status.history as a table
//	kubectl syncjob logs NAME                     the active or last run's Pod log
//	kubectl syncjob explain NAME ID               why source record ID is (not) in the sink
//	kubectl syncjob plan NAME [--wait]            preflight now (plan-requested-at)
//	kubectl syncjob forget NAME                   delete the checkpoint a deleted SyncJob left
//
// It is a client of the API only: it reads the SyncJob, its CronJob, Jobs and Pods, and
// writes request annotations (and, for explain, a one-off Job it deletes again). It never
// imports the runner.
//
// Exit codes: 0 done (with --wait: the run Succeeded), 3 the awaited run PartiallySucceeded,
// 1 failed (or the awaited run Failed, or the wait timed out), 2 bad usage.
package kubectlsyncjob

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1 "github.com/checkpointed/checkpointed/api/v1alpha1"
)

// Exit codes of the plugin.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	ExitPartial = 3
)

// Plugin is the plugin bound to one cluster and namespace.
type Plugin struct {
	// Client reads and patches SyncJobs, CronJobs, Jobs and Pods.
	Client client.Client
	// Clientset streams Pod logs.
	Clientset kubernetes.Interface
	// Namespace of the SyncJob.
	Namespace string
	// Out receives the answers, Err the progress and the errors.
	Out, Err io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Poll is how often a wait looks again (1 s when zero).
	Poll time.Duration
}

func (p *Plugin) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Plugin) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return time.Second
}

// Scheme holds the types the plugin reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = syncv1.AddToScheme(s)
	return s
}

// NewPlugin connects to the apiserver at cfg. Its clients share one client-side rate
// limiter, in which a wait that would outlast a deadline is that deadline's error.
func NewPlugin(cfg *rest.Config, namespace string, out, errw io.Writer) (*Plugin, error) {
	cfg = withDeadlineLimiter(cfg)
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return &Plugin{Client: c, Clientset: cs, Namespace: namespace, Out: out, Err: errw}, nil
}

const usage = `usage: kubectl syncjob COMMAND NAME [flags]

  status NAME                         did it run, how far did it get, what next
  run NAME [--wait]                   run now (run-requested-at)
  reset NAME [--to beginning|RFC3339] [--clear-failed-keys] [--wait]
  backfill NAME --from RFC3339 --to RFC3339 [--wait]
  history NAME                        the recent runs
  logs NAME                           the active run's or the last run's Pod log
  explain NAME ID                     why source record ID is (not) in the sink (a one-off Job)
  plan NAME [--wait]                  preflight now: connect, check tables and columns, map one page, write nothing
  forget NAME                         delete the checkpoint a deleted SyncJob left behind

flags of every command: -n NAMESPACE, --kubeconfig FILE, --context NAME, --timeout DURATION`

// usageError is a command-line mistake (exit code 2).
type usageError struct{ error }

// common are the flags every command takes.
type common struct {
	namespace, kubeconfig, context string
	timeout                        time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.namespace, "n", "", "namespace of the SyncJob (default: the kubeconfig context's)")
	fs.StringVar(&c.namespace, "namespace", "", "namespace of the SyncJob")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&c.context, "context", "", "kubeconfig context")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "how long explain and --wait wait")
}

// restConfig loads the kubeconfig as kubectl does and says which namespace applies.
func (c *common) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.context}
	if c.namespace != "" {
		overrides.Context.Namespace = c.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return cfg, ns, nil
}

// parse parses args with fs, flags before, between and after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// valueFlags are the flags that take a value.
var valueFlags = map[string]bool{"n": true, "namespace": true, "kubeconfig": true, "context": true, "timeout": true, "to": true, "from": true}

// commandFirst moves the command before the flags that precede it, as in
// `kubectl syncjob -n billing status invoices`.
func commandFirst(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			return append(append([]string{a}, args[:i]...), args[i+1:]...)
		}
		if name := strings.TrimLeft(a, "-"); valueFlags[name] && !strings.Contains(name, "=") {
			i++
		}
	}
	return args
}

// Main runs the plugin with args (without the program name) and returns the exit code.
// connect, when not nil, replaces the kubeconfig (tests).
func Main(args []string, stdout, stderr io.Writer, connect func(namespace string) (*Plugin, error)) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	code, err := run(ctx, args, stdout, stderr, connect)
	if err != nil {
		fmt.Fprintf(stderr, "kubectl syncjob: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, usage)
			return ExitUsage
		}
	}
	return code
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, connect func(string) (*Plugin, error)) (int, error) {
	args = commandFirst(args)
	if len(args) == 0 {
		return ExitUsage, usageError{errors.New("no command")}
	}
	cmd := args[0]
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprintln(stdout, usage)
		return ExitOK, nil
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var com common
	com.register(fs)
	wait := fs.Bool("wait", false, "follow the requested run to its end and print its record")
	to := fs.String("to", "", "reset: beginning or an RFC3339 time; backfill: the RFC3339 end (exclusive)")
	from := fs.String("from", "", "backfill: the RFC3339 start")
	clearFailed := fs.Bool("clear-failed-keys", false, "reset: also forget the failed keys waiting for a retry")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return ExitUsage, err
	}
	want := map[string]int{"status": 1, "run": 1, "reset": 1, "backfill": 1, "history": 1, "logs": 1, "explain": 2, "plan": 1, "forget": 1}
	n, known := want[cmd]
	if !known {
		return ExitUsage, usageError{fmt.Errorf("unknown command %q", cmd)}
	}
	if len(pos) != n {
		if cmd == "explain" {
			return ExitUsage, usageError{errors.New("explain needs a SyncJob name and one source id")}
		}
		return ExitUsage, usageError{fmt.Errorf("%s needs one SyncJob name", cmd)}
	}
	var req *Request
	switch cmd {
	case "run":
		req = &Request{Kind: KindRun}
	case "reset":
		req = &Request{Kind: KindReset, ResetTo: *to, ClearFailedKeys: *clearFailed}
	case "backfill":
		req = &Request{Kind: KindBackfill, From: *from, To: *to}
	case "plan":
		req = &Request{Kind: KindPlan}
	}
	if req != nil {
		if err := req.validate(); err != nil {
			return ExitUsage, usageError{err}
		}
	}
	var p *Plugin
	if connect != nil {
		p, err = connect(com.namespace)
	} else {
		var cfg *rest.Config
		var ns string
		if cfg, ns, err = com.restConfig(); err == nil {
			p, err = NewPlugin(cfg, ns, stdout, stderr)
		}
	}
	if err != nil {
		return ExitFailed, err
	}
	name := pos[0]
	switch cmd {
	case "status":
		return ExitOK, p.Status(ctx, name)
	case "history":
		return ExitOK, p.History(ctx, name)
	case "logs":
		return ExitOK, p.Logs(ctx, name)
	case "explain":
		return p.Explain(ctx, name, pos[1], com.timeout)
	case "forget":
		return p.Forget(ctx, name)
	}
	token, err := p.Request(ctx, name, *req)
	if err != nil {
		return ExitFailed, err
	}
	fmt.Fprintf(p.Err, "%s requested for syncjob %s/%s (token %s)\n", req.Kind, p.Namespace, name, token)
	if !*wait {
		return ExitOK, nil
	}
	wctx, cancel := context.WithTimeout(ctx, com.timeout)
	defer cancel()
	if req.Kind == KindPlan {
		return p.WaitPlan(wctx, name, token)
	}
	return p.Wait(wctx, name, req.Kind, token)
}
