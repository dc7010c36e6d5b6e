package evaluator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Types that appear inside Any fields of the test configurations.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
)

// fromYAML parses YAML into m: sigs.k8s.io/yaml -> JSON -> protojson with the global type
// registry as Any resolver (TST-2).
func fromYAML(t testing.TB, y string, m proto.Message) {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(j, m); err != nil {
		t.Fatalf("protojson: %v\n%s", err, j)
	}
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rcYAML(t testing.TB, y string) *routev3.RouteConfiguration {
	t.Helper()
	rc := &routev3.RouteConfiguration{}
	fromYAML(t, y, rc)
	return rc
}

func hcmYAML(t testing.TB, y string) *hcmv3.HttpConnectionManager {
	t.Helper()
	h := &hcmv3.HttpConnectionManager{}
	fromYAML(t, y, h)
	return h
}

// baseHCM is testdata/hcm.yaml, a proxyplus-shaped HCM (HCM-*, EXT-15).
func baseHCM(t testing.TB) *hcmv3.HttpConnectionManager {
	return hcmYAML(t, readTestdata(t, "hcm.yaml"))
}

// hcmWithLocalReply is baseHCM with local_reply_config replaced.
func hcmWithLocalReply(t testing.TB, lrYAML string) *hcmv3.HttpConnectionManager {
	h := baseHCM(t)
	lr := &hcmv3.LocalReplyConfig{}
	fromYAML(t, lrYAML, lr)
	h.LocalReplyConfig = lr
	return h
}

func mustNew(t testing.TB, rc *routev3.RouteConfiguration, h *hcmv3.HttpConnectionManager, opts ...Option) *Evaluator {
	t.Helper()
	e, err := New(rc, h, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func req(method, authority, path string, headers ...string) *Request {
	r := &Request{Method: method, Authority: authority, Path: path, Scheme: "https",
		RemoteAddr: "203.0.113.7:51234", LocalAddr: "10.0.0.5:443"}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, [2]string{headers[i], headers[i+1]})
	}
	return r
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

func extProcConfig(t testing.TB, a *anypb.Any) *extprocfilterv3.ExternalProcessor {
	t.Helper()
	ep := &extprocfilterv3.ExternalProcessor{}
	if err := a.UnmarshalTo(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func metadataOptions(untyped []string) *extprocfilterv3.MetadataOptions {
	return &extprocfilterv3.MetadataOptions{ReceivingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: untyped}}
}

func typedConfig(t testing.TB, m proto.Message) *hcmv3.HttpFilter_TypedConfig {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}
}
