package testinvoke

import (
	"context"
	"fmt"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// authorize plays the selected route's authorization filters in the HCM's order — jwt_authn, then ext_authz —
// as Envoy does before the ext_proc filter and the router: a refusal is the client's response (through the HCM's
// local-reply mappers), otherwise the dynamic metadata they set is what the processor receives.
func (inv *Invoker) authorize(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request) (map[string]*structpb.Struct, *evaluator.Response, error) {
	meta := map[string]*structpb.Struct{}
	now := time.Now
	if inv.Now != nil {
		now = inv.Now
	}
	if sel.JWTAuthn != nil {
		o, err := inv.eval.VerifyJWT(sel, req, inv.JWKS, now())
		if err != nil {
			return nil, nil, err
		}
		if len(o.Metadata.GetFields()) > 0 {
			meta[builder.JWTAuthnNamespace] = o.Metadata
		}
		if o.Failed {
			r, err := inv.eval.JWTAuthnReply(sel, req, o)
			return nil, r, err
		}
	}
	if sel.ExtAuthz != nil {
		cr, err := inv.eval.ExtAuthzCheckRequest(sel, req, meta)
		if err != nil {
			return nil, nil, err
		}
		var resp *authv3.CheckResponse
		switch {
		case inv.AuthzClient != nil:
			resp, err = inv.AuthzClient.Check(ctx, cr)
			if err != nil {
				resp = nil // a failed call: status_on_error
			}
		case inv.Authz != nil:
			if resp, err = inv.Authz.Check(ctx, cr); err != nil {
				return nil, nil, fmt.Errorf("authorization service: %w", err)
			}
		}
		oc, err := inv.eval.ExtAuthzResult(sel, req, resp, meta)
		if err != nil {
			return nil, nil, err
		}
		if oc.Response != nil {
			return nil, oc.Response, nil
		}
		if oc.Metadata != nil {
			meta[builder.ExtAuthzNamespace] = oc.Metadata
		}
	}
	return meta, nil, nil
}
