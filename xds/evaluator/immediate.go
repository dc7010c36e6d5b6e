package evaluator

import (
	"fmt"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// ImmediateResponse computes the client's response when the processor answers the selected
// route's ext_proc stream with resp, a ProcessingResponse holding an immediate_response.
// It follows Envoy source/extensions/filters/http/ext_proc/ext_proc.cc (main 1.37.0-dev,
// 321a098d81):
//
//   - Filter::onReceiveMessage -> setDecoderDynamicMetadata: resp.dynamic_metadata reaches
//     the stream - and the local-reply mappers' metadata_filter - only for the namespaces in
//     metadata_options.receiving_namespaces.untyped (the route's ExtProcOverrides when set,
//     else the filter's); nothing at all without one (Filter::setDynamicMetadata);
//   - Filter::sendImmediateResponse: status.code, or 200 when unset or below 200
//     (MutationUtils::isValidHttpStatus, DefaultImmediateStatus); details with every
//     whitespace replaced by '_' (StringUtil::replaceAllEmptySpace); then sendLocalReply
//     with the body and a modify_headers that applies headers as
//     MutationUtils::applyHeaderMutations does, with the filter's mutation_rules - a name
//     the rules refuse (x-envoy-* without allow_envoy, host, ":"-headers appended, ...) is
//     dropped, and an invalid name or value (control characters, DEL) ends the mutation
//     there: what was applied stays, the rest is lost, and the reply is still sent (the
//     error is only logged);
//   - the local reply then goes the usual way (LocalReply): the route's response headers
//     first when the route has a route entry (a direct_response route has none), the
//     mappers, Utility::prepareLocalReply, the encoder filters, the HCM (date, ...) and the
//     HTTP/1 codec. The reply comes after the whole request was read, so it does not close
//     the connection unless the client asked for it or the status is 400.
func (e *Evaluator) ImmediateResponse(sel *Selection, req *Request, resp *extprocv3.ProcessingResponse) (*Response, error) {
	if sel == nil || sel.ExtProc == nil {
		return nil, fmt.Errorf("evaluator: the selected route does not enable ext_proc")
	}
	ir := resp.GetImmediateResponse()
	if ir == nil {
		return nil, fmt.Errorf("evaluator: the processing response has no immediate_response")
	}
	if e.hcm.extProc.extProc.GetDisableImmediateResponse() {
		return nil, fmt.Errorf("evaluator: disable_immediate_response is not modelled")
	}
	status := 200
	if ir.GetStatus() != nil && int(ir.GetStatus().GetCode()) >= 200 {
		status = int(ir.GetStatus().GetCode())
	}
	details := strings.NewReplacer(" ", "_", "\t", "_", "\f", "_", "\v", "_", "\n", "_", "\r", "_").Replace(ir.GetDetails())
	meta := e.receivedMetadata(sel, resp.GetDynamicMetadata())

	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	rules := mutationChecker{}
	if e.hcm.extProc.rules != nil {
		rules = *e.hcm.extProc.rules
	}
	// The immediate response's header_mutation on the local reply's response headers, with
	// replacing_message false. A failure stops it, as in Envoy; sendImmediateResponse only
	// logs it, and past the limits (headerMutationResultCheck) the headers stay.
	modify := func(h *headerMap) { _, _ = applyHeaderMutation(h, ir.GetHeaders(), &rules, e.hcm.maxHeadersCount, nil) }
	routeHeaders := sel.rt != nil && sel.rt.direct == nil
	if routeHeaders {
		if _, err := e.decodeFilters(sel, d); err != nil {
			return nil, err
		}
		if err := e.finalizeRequestHeaders(sel, d); err != nil {
			return nil, err
		}
	}
	return e.localReplyModify(sel, d, status, string(ir.GetBody()), "", details, meta, routeHeaders, false, modify)
}

// receivedMetadata is Filter::setDynamicMetadata: the namespaces of md listed in the
// effective receiving_namespaces.untyped (FilterConfigPerRoute: the route's overrides win).
func (e *Evaluator) receivedMetadata(sel *Selection, md *structpb.Struct) map[string]*structpb.Struct {
	ns := e.hcm.extProc.extProc.GetMetadataOptions().GetReceivingNamespaces().GetUntyped()
	if sel.rt != nil {
		per := sel.rt.pf.extProc
		if per == nil && sel.vh != nil {
			per = sel.vh.pf.extProc
		}
		if mo := per.GetOverrides().GetMetadataOptions(); mo.GetReceivingNamespaces() != nil {
			ns = mo.GetReceivingNamespaces().GetUntyped()
		}
	}
	if len(ns) == 0 || md == nil {
		return nil
	}
	out := map[string]*structpb.Struct{}
	for _, n := range ns {
		if v, ok := md.GetFields()[n]; ok {
			out[n] = v.GetStructValue()
		}
	}
	return out
}
