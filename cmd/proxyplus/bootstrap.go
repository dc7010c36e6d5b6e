package main

import (
	"context"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/xds/builder"
)

func runBootstrap(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bootstrap", "bootstrap --xds-address HOST:PORT --node-id ID [--delta] [--xds-tls-ca FILE [--xds-tls-cert FILE --xds-tls-key FILE]] [--extproc-tls-ca FILE [--extproc-tls-cert FILE --extproc-tls-key FILE]] [-o yaml|json]")
	var o builder.BootstrapOptions
	fs.StringVar(&o.XDSAddress, "xds-address", "127.0.0.1:18000", "address of proxyplus's ADS server as Envoy reaches it")
	fs.StringVar(&o.NodeID, "node-id", "", "Envoy node id (required)")
	fs.StringVar(&o.NodeCluster, "node-cluster", "proxyplus", "Envoy node cluster")
	fs.BoolVar(&o.Delta, "delta", false, "use incremental (delta) xDS instead of state of the world")
	admin := fs.Uint("admin-port", 9901, "Envoy admin port")
	fs.StringVar(&o.AdminAddress, "admin-address", "127.0.0.1", "address Envoy's admin interface binds (keep it private: the admin API can change Envoy)")
	var xdsTLS, epTLS builder.TLSClientFiles
	fs.StringVar(&xdsTLS.CAFile, "xds-tls-ca", "", "connect to the ADS server over TLS, verifying its certificate with this CA bundle (PEM path on Envoy's machine; serve --xds-tls-cert)")
	fs.StringVar(&xdsTLS.CertFile, "xds-tls-cert", "", "Envoy's client certificate for the ADS server (mTLS; serve --xds-client-ca)")
	fs.StringVar(&xdsTLS.KeyFile, "xds-tls-key", "", "key of --xds-tls-cert")
	fs.StringVar(&xdsTLS.ServerName, "xds-tls-server-name", "", "name expected in the ADS server's certificate and sent as SNI (default: the host of --xds-address)")
	fs.StringVar(&epTLS.CAFile, "extproc-tls-ca", "", "CA bundle verifying the ext_proc service's certificate (PEM path on Envoy's machine), for a serve with --extproc-tls-cert: the bootstrap secret "+builder.ExtProcCASecret)
	fs.StringVar(&epTLS.CertFile, "extproc-tls-cert", "", "Envoy's client certificate for the ext_proc service (mTLS; serve --extproc-client-ca): the bootstrap secret "+builder.ExtProcClientCertSecret)
	fs.StringVar(&epTLS.KeyFile, "extproc-tls-key", "", "key of --extproc-tls-cert")
	output := fs.String("o", "yaml", "output format: yaml or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if xdsTLS != (builder.TLSClientFiles{}) {
		o.XDSTLS = &xdsTLS
	}
	if epTLS != (builder.TLSClientFiles{}) {
		o.ExtProcTLS = &epTLS
	}
	if o.NodeID == "" {
		return usageError{fmt.Errorf("--node-id is required")}
	}
	o.AdminPort = uint32(*admin)
	b, err := builder.Bootstrap(o)
	if err != nil {
		return usageError{err}
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap is invalid: %w", err)
	}
	j, err := builder.MarshalResource(b)
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
