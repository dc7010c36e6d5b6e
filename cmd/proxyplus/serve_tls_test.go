package main

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/proxyplus/proxyplus/internal/testutil/testpki"
)

// TestServeXDSMutualTLS: with --xds-tls-cert/--xds-tls-key/--xds-client-ca the ADS server speaks TLS and serves
// only Envoys presenting a certificate from the client CA.
func TestServeXDSMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "xds CA")
	caFile := ca.WriteCert(t, filepath.Join(dir, "ca.pem"))
	cert, key := ca.IssueFiles(t, testpki.Server("proxyplus"), dir, "xds")
	envoyCert := ca.Issue(t, testpki.Client("envoy-1"))
	strangerCert := testpki.NewCA(t, "other CA").Issue(t, testpki.Client("envoy-2"))

	p := freePorts(t, 4)
	startServe(t, p[3], "--api", "testdata/api.yaml", "--stage", "dev", "--xds-address", p[0], "--extproc-address", p[1],
		"--metrics-address", p[2], "--admin-address", p[3], "--data-dir", t.TempDir(), "--watch-interval", "0",
		"--xds-tls-cert", cert, "--xds-tls-key", key, "--xds-client-ca", caFile)

	fetch := func(client tls.Certificate) (*discoveryv3.DiscoveryResponse, error) {
		creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		conn, err := grpc.NewClient(p[0], grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy"}, TypeUrl: resourcev3.ClusterType}); err != nil {
			return nil, err
		}
		return stream.Recv()
	}
	resp, err := fetch(envoyCert)
	if err != nil || resp.GetVersionInfo() == "" {
		t.Fatalf("Envoy with a certificate from the client CA: %v, %v", resp, err)
	}
	if _, err := fetch(strangerCert); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}
