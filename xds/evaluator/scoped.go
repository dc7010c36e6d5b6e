package evaluator

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// scopedRoutes models an HCM with scoped_routes (SRDS): the route configuration of a request is the one of the
// scope whose key equals the key built from the request headers.
//
// Envoy main 1.37.0-dev, 321a098d81:
//   - source/common/router/scoped_config_impl.cc ScopeKeyBuilderImpl::computeScopeKey: every fragment builder
//     must yield a fragment, else there is no key. HeaderValueExtractorImpl::computeFragment: the first value of
//     the header, split on element_separator (when set), element `index` if there are that many, else none.
//     ScopedConfigImpl::getRouteConfig: exact (case-sensitive) match on the whole key, else none.
//   - source/common/http/conn_manager_impl.cc ActiveStream::snapScopedRouteConfig: no scope gives a
//     NullConfigImpl, whose route() is null: the router's 404 with NR (forward.go), like a Host no virtual host
//     matches.
type scopedRoutes struct {
	header string
	sep    string
	index  int
	byKey  map[string]*compiledRC
}

// NewScoped compiles an HCM whose routes are scoped routes: scopes are its ScopedRouteConfigurations (SRDS, or
// nil to take the HCM's inline scoped_route_configurations_list) and rcs every RouteConfiguration they name.
// Only one header_value_extractor fragment with an index is modelled; anything else is refused.
func NewScoped(hcm *hcmv3.HttpConnectionManager, scopes []*routev3.ScopedRouteConfiguration, rcs []*routev3.RouteConfiguration, opts ...Option) (*Evaluator, error) {
	e := newEvaluator(opts)
	h, err := compileHCM(hcm)
	if err != nil {
		return nil, err
	}
	e.hcm = h
	sr := hcm.GetScopedRoutes()
	l := loc{path: []string{"http_connection_manager", "scoped_routes"}}
	if sr == nil {
		return nil, l.errf("NewScoped needs an HCM with scoped_routes")
	}
	if err := onlyFields(sr, l, "name", "scope_key_builder", "rds_config_source", "scoped_rds", "scoped_route_configurations_list"); err != nil {
		return nil, err
	}
	if inline := sr.GetScopedRouteConfigurationsList(); inline != nil {
		if scopes != nil {
			return nil, l.errf("scopes passed to NewScoped and inline in the HCM")
		}
		scopes = inline.GetScopedRouteConfigurations()
	}
	frags := sr.GetScopeKeyBuilder().GetFragments()
	if len(frags) != 1 || frags[0].GetHeaderValueExtractor() == nil {
		return nil, l.at("scope_key_builder").errf("only one header_value_extractor fragment is modelled")
	}
	hv := frags[0].GetHeaderValueExtractor()
	if _, ok := hv.GetExtractType().(*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index); !ok {
		return nil, l.at("scope_key_builder").errf("only header_value_extractor.index is modelled")
	}
	if hv.GetIndex() != 0 && hv.GetElementSeparator() == "" {
		// HeaderValueExtractorImpl's constructor.
		return nil, l.at("scope_key_builder").errf("Envoy rejects index > 0 with an empty element separator")
	}
	s := &scopedRoutes{header: strings.ToLower(hv.GetName()), sep: hv.GetElementSeparator(), index: int(hv.GetIndex()), byKey: map[string]*compiledRC{}}
	compiled := map[string]*compiledRC{}
	for _, rc := range rcs {
		c, err := compileRouteConfig(rc, h)
		if err != nil {
			return nil, err
		}
		compiled[rc.GetName()] = c
	}
	for i, sc := range scopes {
		sl := loc{path: []string{fmt.Sprintf("scoped_route_configurations[%d]", i)}}
		if err := sc.ValidateAll(); err != nil {
			return nil, sl.errf("Envoy rejects this configuration (protoc-gen-validate): %v", err)
		}
		if err := onlyFields(sc, sl, "name", "route_configuration_name", "key"); err != nil {
			return nil, err
		}
		kf := sc.GetKey().GetFragments()
		if len(kf) != 1 {
			return nil, sl.at("key").errf("the key has %d fragments, the key builder 1: it never matches", len(kf))
		}
		c, ok := compiled[sc.GetRouteConfigurationName()]
		if !ok {
			// Envoy would wait for the RouteConfiguration (the scope stays warming).
			return nil, sl.at("route_configuration_name").errf("RouteConfiguration %q not given", sc.GetRouteConfigurationName())
		}
		key := kf[0].GetStringKey()
		if _, dup := s.byKey[key]; dup {
			return nil, sl.at("key").errf("scope key %q used twice", key)
		}
		s.byKey[key] = c
	}
	e.scoped = s
	return e, nil
}

// routeConfig is the route configuration that serves d: the only one, or its scope's (nil: no scope).
func (e *Evaluator) routeConfig(d *decodedRequest) *compiledRC {
	if e.scoped == nil {
		return e.rc
	}
	v, ok := d.h.first(e.scoped.header)
	if !ok {
		return nil
	}
	elems := []string{v}
	if e.scoped.sep != "" {
		elems = strings.Split(v, e.scoped.sep)
	}
	if e.scoped.index >= len(elems) {
		return nil
	}
	return e.scoped.byKey[elems[e.scoped.index]]
}
