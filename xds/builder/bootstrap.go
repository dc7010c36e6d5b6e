package builder

import (
	"fmt"
	"net"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/internal/re2"
)

// BootstrapOptions describe the Envoy that connects to proxyplus.
type BootstrapOptions struct {
	XDSAddress string // host:port of proxyplus's ADS server
	NodeID     string
	// NodeCluster is Envoy's service cluster; informational (every node gets the same configuration).
	NodeCluster string
	Delta       bool
	AdminPort   uint32
	// AdminAddress is the admin interface's bind address, 127.0.0.1 by default.
	AdminAddress string
	// XDSTLS, when set, makes Envoy reach the ADS server over TLS (serve --xds-tls-cert; mTLS with
	// --xds-client-ca and a client certificate here).
	XDSTLS *TLSClientFiles
	// ExtProcTLS defines the static secrets the processor cluster's TLS refers to (ExtProcCASecret and, with a
	// certificate, ExtProcClientCertSecret); serve sends that cluster with extproc_tls.
	ExtProcTLS *TLSClientFiles
}

// TLSClientFiles are PEM files on Envoy's machine for a TLS client: the CA that signs the server's
// certificate, and Envoy's own certificate and key for mTLS (both or neither).
type TLSClientFiles struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// ServerName is the SNI and the name checked in the server's certificate; default: the host dialled.
	ServerName string
}

func (f *TLSClientFiles) check(what string) error {
	if f.CAFile == "" {
		return fmt.Errorf("%s TLS: a CA file is required (the server's certificate is always verified)", what)
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return fmt.Errorf("%s TLS: a client certificate needs its key and the other way round", what)
	}
	return nil
}

func pemFile(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// XDSClusterName is the bootstrap's static cluster that reaches proxyplus.
const XDSClusterName = "proxyplus-xds"

// Bootstrap is an Envoy bootstrap that takes listeners and clusters (and through them routes) from proxyplus over
// ADS. Delta xDS is optional; state of the world uses the same address (envoy-notes XDS-5).
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("xds address %q: %w", o.XDSAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("xds address %q: bad port", o.XDSAddress)
	}
	if o.NodeID == "" {
		return nil, fmt.Errorf("node id is required")
	}
	if o.NodeCluster == "" {
		o.NodeCluster = "proxyplus"
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1"
	}
	if o.AdminPort == 0 {
		o.AdminPort = 9901
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		}},
	}})
	if err != nil {
		return nil, err
	}
	apiType := corev3.ApiConfigSource_GRPC
	if o.Delta {
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	discovery := clusterv3.Cluster_STRICT_DNS
	if net.ParseIP(host) != nil {
		discovery = clusterv3.Cluster_STATIC
	}
	xdsCluster := &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: discovery},
		ConnectTimeout:                durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment:                hostAssignment(XDSClusterName, host, uint32(port)),
	}
	if f := o.XDSTLS; f != nil {
		if err := f.check("xds"); err != nil {
			return nil, err
		}
		name := f.ServerName
		if name == "" {
			name = host
		}
		vc := &tlsv3.CertificateValidationContext{TrustedCa: pemFile(f.CAFile), MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: name}},
		}}}
		sni := name
		if net.ParseIP(name) != nil {
			vc.MatchTypedSubjectAltNames[0].SanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
		}
		common := &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2"}, ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}}
		if f.CertFile != "" {
			common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: pemFile(f.CertFile), PrivateKey: pemFile(f.KeyFile)}}
		}
		a, err := anypb.New(&tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: common})
		if err != nil {
			return nil, err
		}
		xdsCluster.TransportSocket = &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	}
	var secrets []*tlsv3.Secret
	if f := o.ExtProcTLS; f != nil {
		if err := f.check("ext_proc"); err != nil {
			return nil, err
		}
		if f.ServerName != "" {
			return nil, fmt.Errorf("ext_proc TLS: the server name is part of serve's configuration (extproc_tls_server_name), not of the bootstrap")
		}
		secrets = append(secrets, &tlsv3.Secret{Name: ExtProcCASecret, Type: &tlsv3.Secret_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: pemFile(f.CAFile)},
		}})
		if f.CertFile != "" {
			secrets = append(secrets, &tlsv3.Secret{Name: ExtProcClientCertSecret, Type: &tlsv3.Secret_TlsCertificate{
				TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: pemFile(f.CertFile), PrivateKey: pemFile(f.KeyFile)},
			}})
		}
	}
	return &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: o.NodeID, Cluster: o.NodeCluster},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   apiType,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				}}},
			},
			LdsConfig: adsSource(),
			CdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xdsCluster}, Secrets: secrets},
		LayeredRuntime:  layeredRuntime(),
		Admin: &bootstrapv3.Admin{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: o.AdminAddress, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: o.AdminPort},
		}}}},
	}, nil
}

// layeredRuntime pins re2.max_program_size.error_level in a static layer to the limit this builder keeps every
// generated regex under (Envoy's default, 100: source/common/common/regex.cc CompiledGoogleReMatcher), so an Envoy
// started from our bootstrap accepts exactly what translate accepts even if a later Envoy changes the default.
// A static layer is a Struct whose number fields become runtime entries (ProtoLayer::walkProtoValue,
// source/common/runtime/runtime_impl.cc); the admin layer keeps /runtime_modify working, as Envoy adds it only
// when layered_runtime has no layers (InitialImpl, source/server/configuration_impl.cc; main 1.37.0-dev,
// 321a098d81). The route configuration never relies on this key: it stays under the default on any Envoy.
func layeredRuntime() *bootstrapv3.LayeredRuntime {
	return &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{
		{Name: "proxyplus-static", LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{Fields: map[string]*structpb.Value{
			"re2.max_program_size.error_level": structpb.NewNumberValue(re2.DefaultMaxProgramSize),
		}}}},
		{Name: "admin", LayerSpecifier: &bootstrapv3.RuntimeLayer_AdminLayer_{AdminLayer: &bootstrapv3.RuntimeLayer_AdminLayer{}}},
	}}
}
