package builder

import (
	"fmt"
	"sync"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// HeaderMutationFilterName is the HCM filter that removes remapped backend response headers.
const HeaderMutationFilterName = "envoy.filters.http.header_mutation"

// headerMutationFilter is disabled on the HCM and enabled on HTTP_PROXY routes. It sits before the router, so on
// the response path it runs after the router applied the route's response_headers_to_add (envoy-notes HCM-19).
func headerMutationFilter() (*hcmv3.HttpFilter, error) {
	a, err := anypb.New(&headermutationv3.HeaderMutation{})
	if err != nil {
		return nil, fmt.Errorf("header_mutation filter: %w", err)
	}
	return &hcmv3.HttpFilter{Name: HeaderMutationFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}, Disabled: true}, nil
}

// responseRemapFilterConfig removes the backend headers that were remapped or that API Gateway drops (HTP-13),
// then sets the gateway's own request id. The HCM adds its own Date when none is left.
func responseRemapFilterConfig() (map[string]*anypb.Any, error) {
	var ms []*mutationrulesv3.HeaderMutation
	for _, names := range [][]string{remappedResponseHeaders, droppedResponseHeaders} {
		for _, n := range names {
			if n == "content-length" {
				// The body passes unchanged, so the backend's length is the gateway's own Content-Length;
				// removing it would make Envoy send the body chunked, which API Gateway never does.
				continue
			}
			ms = append(ms, &mutationrulesv3.HeaderMutation{Action: &mutationrulesv3.HeaderMutation_Remove{Remove: n}})
		}
	}
	ms = append(ms,
		&mutationrulesv3.HeaderMutation{Action: &mutationrulesv3.HeaderMutation_Append{Append: setHeader("x-amzn-RequestId", "%UNIQUE_ID%")}},
		&mutationrulesv3.HeaderMutation{Action: &mutationrulesv3.HeaderMutation_Append{Append: setHeader("x-amz-apigw-id", "%UNIQUE_ID%")}},
	)
	return enableFilter(HeaderMutationFilterName, &headermutationv3.HeaderMutationPerRoute{
		Mutations: &headermutationv3.Mutations{ResponseMutations: ms},
	})
}

// LocalReplyContentTypeHeader carries a processor reply's content-type past Utility::prepareLocalReply, which
// drops content-type from a local reply with an empty body (see localReplyConfig). It never reaches a client.
const LocalReplyContentTypeHeader = "x-proxyplus-local-reply-content-type"

// lambdaContentTypeMutations restore the content-type of an empty-bodied processor reply on a Lambda route. The
// header_mutation filter is an encoder filter, so it runs on the local reply after prepareLocalReply
// (HeaderMutation::encodeHeaders, source/extensions/filters/http/header_mutation/header_mutation.cc): content-type
// from LocalReplyContentTypeHeader when none is left (an empty value adds nothing), then the carrier goes.
func lambdaContentTypeMutations() *headermutationv3.HeaderMutationPerRoute {
	return &headermutationv3.HeaderMutationPerRoute{Mutations: &headermutationv3.Mutations{ResponseMutations: []*mutationrulesv3.HeaderMutation{
		{Action: &mutationrulesv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "content-type", Value: "%RESP(" + LocalReplyContentTypeHeader + ")%"},
			AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT,
		}}},
		{Action: &mutationrulesv3.HeaderMutation_Remove{Remove: LocalReplyContentTypeHeader}},
	}}}
}

// lambdaContentTypeFilterConfig is lambdaContentTypeMutations enabled on a route (enableFilter), made once: it is
// the same on every Lambda route, and validating and marshalling it for each route was 16 of the 143 allocations per
// route of BenchmarkTranslate (ref-api, 1,000 routes). Routes share the Any; nothing modifies a built route.
var lambdaContentTypeFilterConfig = sync.OnceValues(func() (*anypb.Any, error) {
	hm, err := enableFilter(HeaderMutationFilterName, lambdaContentTypeMutations())
	return hm[HeaderMutationFilterName], err
})
