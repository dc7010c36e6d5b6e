package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/proxyplus/proxyplus/funchost"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// localFunctions parses --local-function NAME=COMMAND flags. COMMAND is split like a shell would split it
// (spaces, single and double quotes, backslash escapes), without expansion.
func localFunctions(flags []string) ([]funchost.Function, error) {
	var fns []funchost.Function
	for _, f := range flags {
		name, command, ok := strings.Cut(f, "=")
		if !ok || name == "" || strings.TrimSpace(command) == "" {
			return nil, usageError{fmt.Errorf("--local-function %q: want NAME=COMMAND", f)}
		}
		argv, err := shellSplit(command)
		if err != nil {
			return nil, usageError{fmt.Errorf("--local-function %s: %w", name, err)}
		}
		fns = append(fns, funchost.Function{Name: name, Command: argv})
	}
	return fns, nil
}

// lambdaInvoker routes functions named by local to the local function host and every other function to AWS
// Lambda through the SDK. close stops the local instances.
func lambdaInvoker(ctx context.Context, local []funchost.Function, log *slog.Logger, metrics *funchost.Metrics) (inv lambdainvoke.Invoker, host *funchost.Host, close func(context.Context) error, err error) {
	remote, err := lambdainvoke.NewAWS(ctx, lambdainvoke.Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lambda invoker: %w", err)
	}
	if len(local) == 0 {
		return remote, nil, func(context.Context) error { return nil }, nil
	}
	host, err = funchost.New(local, funchost.Options{Logger: log, Metrics: metrics})
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	return lambdainvoke.NewRouting(host, host.Names(), remote), host, host.Close, nil
}

func shellSplit(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote in %q", c, s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return out, nil
}

// configFunctions maps the gateway config's functions; relative commands and directories are relative to baseDir.
func configFunctions(cfg []*apigatewayv1.LocalFunction, baseDir string) ([]funchost.Function, error) {
	var out []funchost.Function
	for _, f := range cfg {
		if f.GetFunctionName() == "" || len(f.GetCommand()) == 0 {
			return nil, usageError{fmt.Errorf("functions: each local function needs functionName and command")}
		}
		argv := append([]string(nil), f.GetCommand()...)
		if strings.HasPrefix(argv[0], "./") || strings.HasPrefix(argv[0], "../") {
			argv[0] = filepath.Join(baseDir, argv[0])
		}
		dir := f.GetWorkingDirectory()
		if dir == "" {
			dir = baseDir
		} else if !filepath.IsAbs(dir) {
			dir = filepath.Join(baseDir, dir)
		}
		out = append(out, funchost.Function{
			Name: f.GetFunctionName(), ARN: f.GetFunctionArn(), Command: argv, Env: f.GetEnvironment(), Dir: dir,
			Timeout: time.Duration(f.GetTimeout()) * time.Second, MemoryMB: int(f.GetMemorySize()),
			MaxConcurrency: int(f.GetMaxConcurrency()), Handler: f.GetHandler(),
		})
	}
	return out, nil
}
