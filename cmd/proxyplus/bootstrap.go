package main

import (
	"context"
	"fmt"

	"sigs.k8s.io/yaml"

	xdstranslator "github.com/proxyplus/proxyplus/xds/translator"
)

func runBootstrap(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bootstrap", "bootstrap --xds-address HOST:PORT --node-id ID [--delta] [-o yaml|json]")
	var o xdstranslator.BootstrapOptions
	fs.StringVar(&o.XDSAddress, "xds-address", "127.0.0.1:18000", "address of proxyplus's ADS server as Envoy reaches it")
	fs.StringVar(&o.NodeID, "node-id", "", "Envoy node id (required)")
	fs.StringVar(&o.NodeCluster, "node-cluster", "proxyplus", "Envoy node cluster")
	fs.BoolVar(&o.Delta, "delta", false, "use incremental (delta) xDS instead of state of the world")
	admin := fs.Uint("admin-port", 9901, "Envoy admin port")
	fs.StringVar(&o.AdminAddress, "admin-address", "127.0.0.1", "address Envoy's admin interface binds (keep it private: the admin API can change Envoy)")
	output := fs.String("o", "yaml", "output format: yaml or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.NodeID == "" {
		return usageError{fmt.Errorf("--node-id is required")}
	}
	o.AdminPort = uint32(*admin)
	b, err := xdstranslator.Bootstrap(o)
	if err != nil {
		return usageError{err}
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap is invalid: %w", err)
	}
	j, err := xdstranslator.MarshalResource(b)
	if err != nil {
		return err
	}
	if *output == "json" {
		_, err = fmt.Fprintf(e.stdout, "%s\n", j)
		return err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(y)
	return err
}
