package extproc

import (
	"context"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/ir"
)

// authorizeHeaders is the headers-mode authorizer pass of an HTTP_PROXY route with a Lambda authorizer: a refusal
// becomes the immediate response Envoy sends instead of forwarding (ext_proc.cc Filter::onReceiveMessage →
// Filter::sendImmediateResponse, main 1.37.0-dev 321a098d81); otherwise the result is returned for the rewrite's
// context.authorizer.* mappings (nil on routes without an authorizer).
func (s *Server) authorizeHeaders(ctx context.Context, pr *ir.ProcessorRoute, rh *RequestHeaders) (*extprocsvcv3.ProcessingResponse, *authorizer.Result) {
	if a := pr.Route.Authorization; a == nil || a.Lambda == nil {
		return nil, nil
	}
	if s.lambda == nil || s.lambda.Invoker == nil {
		s.log.Error("route has a Lambda authorizer but the processor has no invoker", "route", pr.Route.Name)
		return internalError("proxyplus_authorizer_no_invoker"), nil
	}
	var out authorizer.Outcome
	if resp := s.lambda.AuthorizeHeaders(ctx, pr, rh, sourceIP(rh), &out); resp != nil {
		return ImmediateResponse(resp), nil
	}
	return nil, out.Result
}
