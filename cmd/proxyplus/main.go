// Command proxyplus serves Amazon API Gateway REST API definitions on Envoy: it translates them into Envoy
// configuration, serves that configuration over ADS, and answers test invokes exactly as the generated Envoy
// configuration would.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch; tests give it buffers.
type env struct {
	stdout, stderr io.Writer
}

var commands = map[string]command{
	"translate":   {"print the Envoy resources generated for an API and stage", runTranslate},
	"test-invoke": {"show what the gateway does with one request (routing, integration request, response)", runTestInvoke},
	"validate":    {"check an API definition and list errors and warnings", runValidate},
	"serve":       {"serve API definitions to Envoy over ADS, with the ext_proc service and metrics", runServe},
	"bootstrap":   {"print an Envoy bootstrap that connects to proxyplus over ADS", runBootstrap},
	"extproc":     {"run only the ext_proc service (Lambda proxy and rewritten HTTP_PROXY routes), e.g. as a sidecar", runExtProc},
	"apis":        {"list, get, apply, delete or export the APIs of a running proxyplus (admin API)", runApis},
	"deploy":      {"deploy an API to a stage of a running proxyplus (admin API)", runDeploy},
	"apikeys":     {"list, create, enable, disable, delete, export or import the API keys of a running proxyplus (admin API)", runAPIKeys},
	"usageplans":  {"list, get, apply or delete the usage plans (throttle, quota, stages, keys) of a running proxyplus (admin API)", runUsagePlans},
	"status":      {"show a running proxyplus's Envoy nodes, ACKed versions, NACKs and ext_proc health (admin API)", runStatus},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// usageError makes the process exit with 2, as flag parsing errors do.
type usageError struct{ error }

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "version" {
		fmt.Fprintln(e.stdout, "proxyplus", buildVersion())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "proxyplus: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "proxyplus %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "proxyplus %s: %v\n", args[0], err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "proxyplus runs Amazon API Gateway REST APIs on Envoy.")
	fmt.Fprintln(w, "\nUsage: proxyplus <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'proxyplus <command> --help' for a command's flags; 'proxyplus --version' for the version.")
}

// newFlagSet returns a flag set whose errors are returned, not printed and exited on.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: proxyplus %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses the flags of a command that takes no positional arguments; stray arguments are refused.
func parse(fs *flag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args, 0, "")
	return err
}

// parseArgs parses flags given anywhere among the positional arguments (flag stops at the first non-flag) and
// checks their number; "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != want {
		if want == 0 {
			return nil, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(pos, " "))}
		}
		return nil, usageError{fmt.Errorf("want %s, got %d arguments", names, len(pos))}
	}
	return pos, nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// keyValues parses repeated k=v flags.
func keyValues(flagName string, vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--%s %q: want name=value", flagName, v)}
		}
		out[k] = val
	}
	return out, nil
}
