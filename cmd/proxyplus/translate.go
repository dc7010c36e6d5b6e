package main

import (
	"context"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

func runTranslate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "translate", "translate --api FILE --stage NAME [--stage-variable k=v]... [-o json|yaml]")
	var a apiFlags
	a.register(fs)
	output := fs.String("o", "json", "output format: json or yaml")
	routeKeyFile := fs.String("route-key-file", "", "sign the route data for the ext_proc service with these keys (the processor's --route-key-file); without it the route data is unsigned and every processor refuses it")
	if err := parse(fs, args); err != nil {
		return err
	}
	var opts translator.Options
	if *routeKeyFile != "" {
		keys, err := readRouteKeys(*routeKeyFile)
		if err != nil {
			return usageError{err}
		}
		opts.RouteKeys = keys
	}
	if *output != "json" && *output != "yaml" {
		return usageError{fmt.Errorf("-o %q: want json or yaml", *output)}
	}
	in, diags, err := a.input()
	if err != nil {
		return withDiagnostics(e, diags, err)
	}
	cfg, tdiags, err := translateOne(in, opts)
	diags = append(diags, tdiags...)
	if err != nil {
		return withDiagnostics(e, diags, err)
	}
	res, err := builder.Build(cfg)
	if err != nil {
		return fmt.Errorf("generated configuration is invalid (a proxyplus bug; please report it): %w", err)
	}
	doc, err := res.Document()
	if err != nil {
		return err
	}
	if len(opts.RouteKeys) == 0 && usesProcessor(res, cfg.ExtProc.ClusterName) {
		fmt.Fprintln(e.stderr, "warning: the route data for the ext_proc service is unsigned: every processor refuses it (500); give --route-key-file (the processor's key file) to serve this output")
	}
	if w := diags.Warnings(); len(w) > 0 {
		doc.Warnings = w
		printWarnings(e, w)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if *output == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// withDiagnostics prints warnings and returns err, whose message already lists the errors.
func withDiagnostics(e *env, diags diag.List, err error) error {
	printWarnings(e, diags.Warnings())
	return err
}

func printWarnings(e *env, w diag.List) {
	for _, d := range w {
		fmt.Fprintln(e.stderr, d.String())
	}
}

// usesProcessor reports whether res sends any route to the ext_proc service (its cluster is emitted only then).
func usesProcessor(res *builder.Resources, cluster string) bool {
	for _, c := range res.Clusters {
		if c.GetName() == cluster {
			return true
		}
	}
	return false
}
