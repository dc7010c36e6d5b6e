package evaluator

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// virtualCluster is a VirtualHost.virtual_clusters entry: it changes no routing, only the stat names the router
// charges (vhost.<vhost>.vcluster.<name>.upstream_rq_*).
type virtualCluster struct {
	name    string
	headers []*headerMatcher
}

// vclusterCatchAll is the stat name of CommonVirtualHostImpl's CatchAllVirtualCluster (envoy/router/router.h
// ALL_VIRTUAL_CLUSTER_STATS STATNAME(other); main 1.37.0-dev, 321a098d81).
const vclusterCatchAll = "other"

// compileVirtualClusters refuses what CommonVirtualHostImpl's constructor refuses ("virtual clusters must define
// 'headers'"; source/common/router/config_impl.cc, main 1.37.0-dev, 321a098d81). An empty name
// (route_components.proto VirtualCluster.name min_len 1) is refused earlier, by the protoc-gen-validate check.
func compileVirtualClusters(vcs []*routev3.VirtualCluster, l loc) ([]*virtualCluster, error) {
	var out []*virtualCluster
	for i, vc := range vcs {
		vl := l.at(fmt.Sprintf("virtual_clusters[%d]", i))
		if err := onlyFields(vc, vl, "name", "headers"); err != nil {
			return nil, err
		}
		if len(vc.GetHeaders()) == 0 {
			return nil, vl.at("headers").errf("virtual clusters must define 'headers'")
		}
		c := &virtualCluster{name: vc.GetName()}
		for j, hm := range vc.GetHeaders() {
			m, err := compileHeaderMatcher(hm, vl.at(fmt.Sprintf("headers[%d]", j)))
			if err != nil {
				return nil, err
			}
			c.headers = append(c.headers, m)
		}
		out = append(out, c)
	}
	return out, nil
}

// virtualClusterFor is CommonVirtualHostImpl::virtualClusterFromEntries (source/common/router/config_impl.cc; main
// 1.37.0-dev, 321a098d81): the first entry whose headers all match (Http::HeaderUtility::matchHeaders), else the
// catch-all when there are entries, else none.
func (vh *vhost) virtualClusterFor(h *headerMap) string {
	for _, vc := range vh.vclusters {
		matched := true
		for _, m := range vc.headers {
			if !m.match(h) {
				matched = false
				break
			}
		}
		if matched {
			return vc.name
		}
	}
	if len(vh.vclusters) > 0 {
		return vclusterCatchAll
	}
	return ""
}
