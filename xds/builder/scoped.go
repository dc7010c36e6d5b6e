package builder

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/proxyplus/proxyplus/ir"
)

// The split route configuration (issue 13). With one RouteConfiguration, a one-route edit re-sends every API's
// routes to every Envoy. When several APIs are served, the listener's HCM instead selects a RouteConfiguration per
// request through scoped routes (SRDS over ADS), keyed on the first DNS label of the Host, and each
// RouteConfiguration holds only the virtual hosts of the APIs whose hosts start with that label (an API's default
// host "<api-id>.execute-api.*" gives every API its own), so an edit re-sends one API's routes.
//
// Envoy behaviour relied on (main 1.37.0-dev, 321a098d81):
//   - source/common/router/scoped_config_impl.cc HeaderValueExtractorImpl::computeFragment: the key fragment is the
//     first value of the named header split on element_separator, element `index`; no header or too few elements
//     gives no key. ScopedConfigImpl::getRouteConfig: the scope whose key equals the computed one (exact, case
//     sensitive), else none.
//   - source/common/http/conn_manager_impl.cc ActiveStream::snapScopedRouteConfig: no scope → NullConfigImpl, so
//     the router finds no route and answers 404 with the NR response flag (router.cc Filter::decodeHeaders), which
//     the unknownScopeMapper local reply mapper turns into API Gateway's unknown-host 403 (RTE-18).
//   - source/common/router/scoped_rds.cc ScopedRdsConfigSubscription: scopes come over SRDS from
//     scoped_rds.scoped_rds_config_source, each scope's RouteConfiguration over RDS from rds_config_source; adding
//     or removing an API changes SRDS and RDS only, never the listener.
//
// Inside a scope the virtual hosts and their routes are exactly those of the single RouteConfiguration (the same
// builders), so API Gateway's routing order is unchanged; the catch-all 403 virtual host is repeated in each.
//
// The split is used only when it is exact: more than one API, and every host's first label a literal (no "*"). A
// lone API answers every Host (domains "*"), and a "*.example.com"-style host could not be keyed; both keep the
// single RouteConfiguration. Deviation: a Host whose first label differs from the configured one only in case
// ("ABC123.execute-api…") finds no scope and gets the unknown-host 403, where one RouteConfiguration would match it.

// ScopedRoutesName names the HCM's scoped routes (stats prefix of the SRDS subscription).
const ScopedRoutesName = "proxyplus-scopes"

// scopeKeyHeader is the header the scope key is taken from: Host, which Envoy's codecs store as :authority.
const scopeKeyHeader = ":authority"

// ScopeKey is the scope a configured host belongs to: its first DNS label, lower-cased (requests are matched as
// sent). ok is false when the host cannot be keyed: a single label, an empty label or a wildcard in it.
func ScopeKey(host string) (key string, ok bool) {
	label, rest, dotted := strings.Cut(host, ".")
	// A single-label host ("localhost") is followed by ":port" in requests, which Envoy does not split off.
	if !dotted || rest == "" || label == "" || strings.Contains(label, "*") {
		return "", false
	}
	return strings.ToLower(label), true
}

// scopeRouteConfigName is the RouteConfiguration of one scope.
func scopeRouteConfigName(key string) string { return RouteConfigName + "/" + key }

// scopedSplit groups the APIs by scope key, in configuration order within each scope; nil when the configuration
// keeps one RouteConfiguration (see above).
func scopedSplit(cfg *ir.Config) map[string][]int {
	if len(cfg.APIs) < 2 {
		return nil
	}
	scopes := map[string][]int{}
	for i, api := range cfg.APIs {
		if len(api.Hosts) == 0 {
			return nil
		}
		for _, h := range api.Hosts {
			key, ok := ScopeKey(h)
			if !ok {
				return nil
			}
			if apis := scopes[key]; len(apis) == 0 || apis[len(apis)-1] != i {
				scopes[key] = append(apis, i)
			}
		}
	}
	return scopes
}

// scopedRouteConfigurations builds one RouteConfiguration per scope and the ScopedRouteConfigurations naming
// them, both sorted by scope key. reuse, when not nil, may return the scope's RouteConfiguration (a Builder's: the
// previous one of a scope whose APIs are unchanged, or one assembled in wire form); otherwise vhost builds the
// virtual host of API i. catchAll is the unknown-host
// virtual host every scope ends with.
func scopedRouteConfigurations(scopes map[string][]int, reuse func(name string, apis []int) (*routev3.RouteConfiguration, error), vhost func(i int) (*routev3.VirtualHost, error), catchAll *routev3.VirtualHost) ([]*routev3.RouteConfiguration, []*routev3.ScopedRouteConfiguration, error) {
	keys := make([]string, 0, len(scopes))
	for k := range scopes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rcs := make([]*routev3.RouteConfiguration, 0, len(keys))
	srs := make([]*routev3.ScopedRouteConfiguration, 0, len(keys))
	for _, key := range keys {
		name := scopeRouteConfigName(key)
		var rc *routev3.RouteConfiguration
		if reuse != nil {
			var err error
			if rc, err = reuse(name, scopes[key]); err != nil {
				return nil, nil, err
			}
		}
		if rc == nil {
			rc = &routev3.RouteConfiguration{
				Name: name,
				// As in routeConfiguration: domains match with or without :port (envoy-notes HCM-15).
				IgnorePortInHostMatching: true,
			}
			for _, i := range scopes[key] {
				vh, err := vhost(i)
				if err != nil {
					return nil, nil, err
				}
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
			rc.VirtualHosts = append(rc.VirtualHosts, catchAll)
		}
		rcs = append(rcs, rc)
		srs = append(srs, &routev3.ScopedRouteConfiguration{
			Name:                   key,
			RouteConfigurationName: rc.GetName(),
			Key: &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{
				Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: key},
			}}},
		})
	}
	if len(rcs) == 0 {
		return nil, nil, fmt.Errorf("scoped route configuration: no scope")
	}
	return rcs, srs, nil
}

// useScopedRoutes switches the HCM from one RDS RouteConfiguration to the scoped routes and adds the unknown-scope
// mapper in front of the others (a 404 NR is Envoy's answer when no scope matches).
func useScopedRoutes(h *hcmv3.HttpConnectionManager) {
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
		Name: ScopedRoutesName,
		ScopeKeyBuilder: &hcmv3.ScopedRoutes_ScopeKeyBuilder{Fragments: []*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder{{
			Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
				Name:             scopeKeyHeader,
				ElementSeparator: ".",
				ExtractType:      &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
			}},
		}}},
		RdsConfigSource: adsSource(),
		ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRds{ScopedRds: &hcmv3.ScopedRds{ScopedRdsConfigSource: adsSource()}},
	}}
	if h.LocalReplyConfig == nil {
		h.LocalReplyConfig = &hcmv3.LocalReplyConfig{}
	}
	h.LocalReplyConfig.Mappers = append([]*hcmv3.ResponseMapper{unknownScopeMapper()}, h.LocalReplyConfig.Mappers...)
}

// unknownScopeMapper: no route (NR) — with scoped routes only a Host of no scope, since every scope's
// RouteConfiguration ends in a catch-all virtual host whose routes end in catch-alls — is API Gateway's unknown-host
// 403 (RTE-18), as the unknown-host virtual host answers.
func unknownScopeMapper() *hcmv3.ResponseMapper {
	return jsonMapper(responseFlags("NR"), 403, forbiddenBody, "ForbiddenException")
}
