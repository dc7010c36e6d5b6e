package builder

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxyplus/proxyplus/ir"
)

// SystemCABundle is the trust store Envoy verifies HTTPS backends against (HTP-16).
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

const backendConnectTimeout = 5 * time.Second

func clusters(cfg *ir.Config, usesProcessor bool) ([]*clusterv3.Cluster, error) {
	backends := map[string]ir.Backend{}
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			for i := range st.Routes { // by index: a route is a large struct
				if h := st.Routes[i].Integration.HTTP; h != nil {
					backends[ClusterName(h.Backend)] = h.Backend
				}
			}
		}
	}
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*clusterv3.Cluster
	for _, n := range names {
		c, err := backendCluster(backends[n])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	cc, err := cognitoClusters(cfg)
	if err != nil {
		return nil, err
	}
	out = append(out, cc...)
	if usesProcessor {
		c, err := extProcCluster(cfg.ExtProc)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// clusterName is one cluster per (scheme, host, port, TLS settings) (RTM-11).
func ClusterName(b ir.Backend) string {
	n := fmt.Sprintf("%s_%s_%d", b.Scheme, b.Host, b.Port)
	if b.InsecureSkipVerify {
		n += "_insecure"
	}
	return n
}

// backendCluster resolves the backend by DNS: no EDS, so nothing for ADS to warm (RTM-11, XDS-8).
func backendCluster(b ir.Backend) (*clusterv3.Cluster, error) {
	c := &clusterv3.Cluster{
		Name:                 ClusterName(b),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:       durationpb.New(backendConnectTimeout),
		LoadAssignment:       hostAssignment(ClusterName(b), b.Host, b.Port),
	}
	if b.Scheme == "https" {
		tls := &tlsv3.UpstreamTlsContext{Sni: b.Host, CommonTlsContext: &tlsv3.CommonTlsContext{}}
		if !b.InsecureSkipVerify {
			tls.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SystemCABundle}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: b.Host}},
				}},
			}}
		}
		a, err := anypb.New(tls)
		if err != nil {
			return nil, err
		}
		c.TransportSocket = &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	}
	return c, nil
}

// extProcCluster reaches the processor over HTTP/2 (EXT-18): STATIC for IP literals and unix sockets, DNS otherwise.
func extProcCluster(ep ir.ExtProcService) (*clusterv3.Cluster, error) {
	opts, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		}},
	}})
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          ep.ClusterName,
		ConnectTimeout:                durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": opts},
	}
	if ep.TLS != nil {
		ts, err := extProcTransportSocket(ep)
		if err != nil {
			return nil, err
		}
		c.TransportSocket = ts
	}
	if path, ok := strings.CutPrefix(ep.Address, "unix:"); ok {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: ep.ClusterName, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint(&corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}})},
		}}}
		return c, nil
	}
	host, portStr, ok := strings.Cut(ep.Address, ":")
	if i := strings.LastIndex(ep.Address, ":"); i >= 0 {
		host, portStr, ok = ep.Address[:i], ep.Address[i+1:], true
	}
	port, err := strconv.Atoi(portStr)
	if !ok || err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("ext_proc address %q is not host:port or unix:/path", ep.Address)
	}
	host = strings.Trim(host, "[]")
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	if isIP(host) {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	}
	c.LoadAssignment = hostAssignment(ep.ClusterName, host, uint32(port))
	return c, nil
}

// Static secrets of Envoy's bootstrap (Bootstrap with ExtProcTLS) that the processor cluster's TLS refers to by name.
// An SdsSecretConfig with a name and no sds_config is looked up among the bootstrap's static secrets
// (getTlsCertificateConfigProviders / getProviderFromSds, source/common/tls/context_config_impl.cc, main
// 1.37.0-dev, 321a098d81): each Envoy keeps its own file paths, the control plane names none.
const (
	ExtProcCASecret         = "proxyplus-extproc-ca"
	ExtProcClientCertSecret = "proxyplus-extproc-client"
)

// extProcTransportSocket is TLS to the processor: the CA from the bootstrap's secret, the certificate's subject
// alternative name checked against ServerName, and Envoy's client certificate for mTLS.
func extProcTransportSocket(ep ir.ExtProcService) (*corev3.TransportSocket, error) {
	name := ep.TLS.ServerName
	if name == "" {
		return nil, fmt.Errorf("ext_proc TLS: no server name to verify the processor's certificate against")
	}
	san := &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: name}}}
	sni := name
	if isIP(name) {
		// An IP literal is not a valid SNI (RFC 6066 §3); the certificate carries it as an IP SAN.
		san.SanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	common := &tlsv3.CommonTlsContext{
		// grpc-go's TLS server refuses a client that does not offer h2 in ALPN. Envoy offers it by itself for an
		// HTTP/2 pool when alpn_protocols is empty (wrapTransportSocketOptions fallbacks, source/common/http/
		// conn_pool_base.cc, main 1.37.0-dev, 321a098d81); stated so the configuration says it.
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san}},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: ExtProcCASecret},
		}},
	}
	if ep.TLS.ClientCertificate {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: ExtProcClientCertSecret}}
	}
	a, err := anypb.New(&tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: common})
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

func hostAssignment(cluster, host string, port uint32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint(&corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}})},
	}}}
}

func lbEndpoint(addr *corev3.Address) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}
}

func isIP(host string) bool { return net.ParseIP(host) != nil }
