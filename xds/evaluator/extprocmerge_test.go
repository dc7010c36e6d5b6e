package evaluator

import (
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestExtProcVirtualHostMerge: the virtual host's and the route's ExtProcPerRoute merge as Envoy merges them
// (source/extensions/filters/http/ext_proc/ext_proc.cc Filter::mergePerRouteConfig over
// Http::Utility::getAllPerFilterConfig, virtual host before route per source/common/router/config_impl.cc
// RouteEntryImplBase::perFilterConfigs; FilterConfigPerRoute(less_specific, more_specific) and
// mergeGrpcInitialMetadata; main 1.37.0-dev, 321a098d81): the virtual host's metadata first, the route replacing
// the entries of its keys and appending the others; processing_mode, failure_mode_allow from the route when it sets
// them, else from the virtual host; a disabled route level disables; a route that overrides under a disabled
// virtual host level is enabled with its own mode.
func TestExtProcVirtualHostMerge(t *testing.T) {
	y := `
name: t
virtual_hosts:
- name: vh
  domains: ["*"]
  typed_per_filter_config:
    envoy.filters.http.ext_proc:
      "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
      config:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides:
          grpc_initial_metadata: [{key: x-deployment, value: vh}, {key: x-both, value: vh}]
          processing_mode: {request_header_mode: SEND, request_body_mode: BUFFERED}
          failure_mode_allow: true
  routes:
  - name: merged
    match: {path: /a}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides:
          grpc_initial_metadata: [{key: x-both, value: route}, {key: x-route, value: route}]
  - name: inherits
    match: {path: /b}
    route: {cluster: c}
  - name: route-mode
    match: {path: /c}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides: {processing_mode: {request_header_mode: SKIP}, failure_mode_allow: false}
  - name: route-disabled
    match: {path: /d}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute, disabled: true}
  - name: filter-disabled
    match: {path: /e}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
- name: vh-disabled
  domains: ["off.example"]
  typed_per_filter_config:
    envoy.filters.http.ext_proc: {"@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute, disabled: true}
  routes:
  - name: overrides-under-disabled
    match: {path: /a}
    route: {cluster: c}
    typed_per_filter_config:
      envoy.filters.http.ext_proc:
        "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
        overrides: {grpc_initial_metadata: [{key: x-route, value: route}]}
`
	e := mustNew(t, rcYAML(t, y), baseHCM(t))
	vhMode := &extprocfilterv3.ProcessingMode{RequestHeaderMode: extprocfilterv3.ProcessingMode_SEND, RequestBodyMode: extprocfilterv3.ProcessingMode_BUFFERED}
	yes, no := true, false
	filterMode := e.hcm.extProc.extProc.GetProcessingMode()
	cases := []struct {
		host, path string
		want       *ExtProcOverride
	}{
		{"api.example", "/a", &ExtProcOverride{GRPCInitialMetadata: [][2]string{{"x-deployment", "vh"}, {"x-both", "route"}, {"x-route", "route"}},
			ProcessingMode: vhMode, FailureModeAllow: &yes}},
		{"api.example", "/b", &ExtProcOverride{GRPCInitialMetadata: [][2]string{{"x-deployment", "vh"}, {"x-both", "vh"}},
			ProcessingMode: vhMode, FailureModeAllow: &yes}},
		{"api.example", "/c", &ExtProcOverride{GRPCInitialMetadata: [][2]string{{"x-deployment", "vh"}, {"x-both", "vh"}},
			ProcessingMode: &extprocfilterv3.ProcessingMode{RequestHeaderMode: extprocfilterv3.ProcessingMode_SKIP}, FailureModeAllow: &no}},
		{"api.example", "/d", nil},
		{"api.example", "/e", nil},
		{"off.example", "/a", &ExtProcOverride{GRPCInitialMetadata: [][2]string{{"x-route", "route"}}, ProcessingMode: filterMode}},
	}
	for _, c := range cases {
		sel, err := e.Select(req("GET", c.host, c.path))
		if err != nil {
			t.Fatal(err)
		}
		if c.want != nil {
			c.want.FilterName = "envoy.filters.http.ext_proc"
		}
		if diff := cmp.Diff(c.want, sel.ExtProc, protocmp.Transform()); diff != "" {
			t.Errorf("%s%s: ExtProc (-want +got):\n%s", c.host, c.path, diff)
		}
	}
}
