package main

import (
	"context"
	"fmt"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// runExtProc runs the ext_proc service alone, so it can be scaled as a sidecar or a separate deployment: it needs
// no definitions, because every route's data arrives from Envoy's configuration with each stream.
func runExtProc(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "extproc", "extproc --listen HOST:PORT|unix:/path [--account-id ID]")
	addr := fs.String("listen", "127.0.0.1:18001", "address to listen on, host:port or unix:/path")
	accountID := fs.String("account-id", "000000000000", "AWS account id reported to Lambda functions as requestContext.accountId")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(e, *logFormat, *logLevel)
	if err != nil {
		return usageError{err}
	}
	invoker, err := lambdainvoke.NewAWS(ctx, lambdainvoke.Options{})
	if err != nil {
		return fmt.Errorf("lambda invoker: %w", err)
	}
	lis, err := listen(*addr)
	if err != nil {
		return fmt.Errorf("ext_proc listener: %w", err)
	}
	log.Info("ext_proc service listening", "address", lis.Addr().String())
	err = serveExtProc(ctx, lis, log, &extproc.Lambda{Invoker: invoker, AccountID: *accountID}, nil)
	log.Info("ext_proc service stopped")
	return err
}
