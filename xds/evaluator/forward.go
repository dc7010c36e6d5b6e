package evaluator

import (
	"fmt"
	"strconv"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
)

// Forward applies the selected route to req as Envoy's filter chain and router do:
//
//   - no route: the router's local reply 404 with an empty body and response flag NR
//     ("route_not_found"), through local_reply_config;
//   - direct_response: a local reply with the route's status and body (see Respond for
//     the response pipeline);
//   - a body over request_body_buffer_limit on a route whose ext_proc buffers the request
//     body: a 413 local reply;
//   - route: the decoder filters run in HCM order - ext_proc is not simulated (apply the
//     processor's answer with ApplyExtProcHeaderMutation first; Forward shows what Envoy
//     sends when the processor CONTINUEs), header_mutation applies its filter-level then
//     per-route request_mutations - then the router finalises the request
//     (RouteEntryImplBase::finalizeRequestHeaders in source/common/router/config_impl.cc):
//     request headers route -> virtual host -> route configuration (each level removes
//     before it adds, see headerOps.apply), then host_rewrite_literal, then the path
//     rewrite (prefix_rewrite replaces the matched prefix; regex_rewrite replaces every
//     match in the path without the query string and keeps the query string:
//     currentUrlPathAfterRewriteWithMatchedPath, "Replace the entire path, but preserve the
//     query parameters"). Finally the HTTP/1 client codec frames the body.
func (e *Evaluator) Forward(sel *Selection, req *Request) (*Outcome, error) {
	if sel == nil {
		return nil, fmt.Errorf("evaluator: nil selection")
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	if sel.rt == nil {
		// Router::Filter::decodeHeaders: sendLocalReply(NotFound, "", ...) with NR.
		resp, err := e.localReply(sel, d, 404, "", "NR", "route_not_found", nil, false)
		if err != nil {
			return nil, err
		}
		return &Outcome{Response: resp}, nil
	}
	if resp, err := e.decodeFilters(sel, d); err != nil || resp != nil {
		if err != nil {
			return nil, err
		}
		return &Outcome{Response: resp}, nil
	}
	// EXT-7: with request_body_mode BUFFERED the ext_proc filter buffers the whole body; a body over the stream's
	// buffer limit makes the filter manager answer 413 "Payload Too Large" (details request_payload_too_large)
	// before the processor sees it. Which limit that is depends on the route's action (main 1.37.0-dev,
	// 321a098d81): the stream starts with the listener's per_connection_buffer_limit_bytes (default 1 MiB), and
	// ActiveStream::refreshBufferLimit (conn_manager_impl.cc) raises it to the route's (else the virtual host's)
	// request_body_buffer_limit only for a route with a route entry; a direct_response route has none (and
	// Router::Filter::decodeHeaders applies the route limit only after its direct_response branch, router.cc), so
	// there the listener's limit stays. With FULL_DUPLEX_STREAMED the filter drains every chunk after copying it
	// into its message (ext_proc.cc handleDataStreamedModeBase): Envoy keeps no body and no buffer limit applies;
	// the processor decides (Lambda routes: LIM-1 and OUT-4 in the processor).
	if sel.ExtProc != nil && sel.ExtProc.ProcessingMode.GetRequestBodyMode() == extprocfilterv3.ProcessingMode_BUFFERED {
		limit := e.connBufferLimit
		if sel.rt.direct == nil && sel.RequestBodyBufferLimit > limit {
			limit = sel.RequestBodyBufferLimit // refreshBufferLimit only raises the limit
		}
		if uint64(len(d.body)) > limit {
			resp, err := e.localReply(sel, d, 413, "Payload Too Large", "", "request_payload_too_large", nil, sel.rt.direct == nil)
			if err != nil {
				return nil, err
			}
			return &Outcome{Response: resp}, nil
		}
	}
	if sel.rt.direct != nil {
		resp, err := e.directResponse(sel, d)
		if err != nil {
			return nil, err
		}
		return &Outcome{Response: resp}, nil
	}
	up, err := e.finalizeUpstream(sel, d)
	if err != nil {
		return nil, err
	}
	return &Outcome{Upstream: up}, nil
}

// decodeFilters runs the decoder side of the filters before the router, in HCM order. A filter that answers
// locally (the buffer filter's 413) returns its response.
func (e *Evaluator) decodeFilters(sel *Selection, d *decodedRequest) (*Response, error) {
	for _, f := range e.hcm.filters {
		if !filterEnabled(f, sel.vh, sel.rt) {
			continue
		}
		switch f.kind {
		case filterHeaderMutation:
			c := e.reqCtx(d)
			// HeaderMutation::decodeHeaders: filter-level mutations, then the per-route ones.
			if err := f.reqMut.apply(d.h, c); err != nil {
				return nil, err
			}
			for _, pf := range hmLevels(f, sel) {
				if err := pf.hmReq.apply(d.h, c); err != nil {
					return nil, err
				}
			}
		case filterBuffer:
			// Envoy "Buffer" HTTP filter: it waits for the whole request; past max_request_bytes the filter
			// manager answers 413 (details request_payload_too_large); once buffered it populates content-length
			// when the request has none (runtime buffer_filter_populate_content_length, on by default), so the
			// upstream codec frames the body with it instead of chunked. The most specific BufferPerRoute wins.
			max := f.maxRequestBytes
			if b := sel.vh.pf.buffer; b != nil {
				max = b.GetMaxRequestBytes().GetValue()
			}
			if b := sel.rt.pf.buffer; b != nil {
				max = b.GetMaxRequestBytes().GetValue()
			}
			if uint64(len(d.body)) > uint64(max) {
				return e.localReply(sel, d, 413, "Payload Too Large", "", "request_payload_too_large", nil, sel.rt.direct == nil)
			}
			// Only a request with a body stream gets there: a headers-only request passes the filter untouched
			// (BufferFilter::decodeHeaders continues at end_stream; content-length is set in decodeData).
			if d.framing != "" && !d.h.has("content-length") {
				d.h.set("content-length", strconv.Itoa(len(d.body)))
				d.framing = "content-length"
			}
		}
	}
	return nil, nil
}

// hmLevels lists the per-route header_mutation configs in evaluation order:
// getAllPerFilterConfig returns route configuration, virtual host, route; the filter
// reverses that unless most_specific_header_mutations_wins, i.e. route first.
func hmLevels(f *httpFilter, sel *Selection) []*perFilter {
	var levels []*perFilter
	if sel.vh != nil && sel.vh.pf.hasHM {
		levels = append(levels, sel.vh.pf)
	}
	if sel.rt != nil && sel.rt.pf.hasHM {
		levels = append(levels, sel.rt.pf)
	}
	if !f.mostSpecificWins {
		for i, j := 0, len(levels)-1; i < j; i, j = i+1, j-1 {
			levels[i], levels[j] = levels[j], levels[i]
		}
	}
	return levels
}

func (e *Evaluator) reqCtx(d *decodedRequest) *fmtCtx {
	return &fmtCtx{req: d.h, uuid: e.uuid, remoteAddr: d.trustedAddr}
}

// finalizeRequestHeaders applies the three levels' request headers, host and path rewrite
// to d.h (in place).
func (e *Evaluator) finalizeRequestHeaders(sel *Selection, d *decodedRequest) error {
	r := sel.rt
	c := e.reqCtx(d)
	// getHeaderParsers(specificity_ascend=false): route, virtual host, route configuration.
	for _, ops := range []*headerOps{r.reqOps, sel.vh.reqOps, sel.rc.reqOps} {
		if err := ops.apply(d.h, c); err != nil {
			return err
		}
	}
	// finalizeHostHeader: host_rewrite_literal sets :authority (append_x_forwarded_host is
	// not accepted; keep_old_host is off because suppress_envoy_headers is required).
	if r.hostRewrite != "" {
		d.h.setInline(":authority", r.hostRewrite)
	}
	path := d.path()
	switch {
	case r.prefixRW != "":
		// The matched portion: the configured prefix / path (path_separated_prefix too);
		// for a regex route the whole path without the query.
		matched := len(r.value)
		if r.kind == pathRegex {
			matched = len(removeQueryAndFragment(path))
		}
		path = r.prefixRW + path[matched:]
		d.h.setInline(":path", path)
	case r.regexRW != nil:
		just := removeQueryAndFragment(path)
		path = globalReplace(r.regexRW, just, r.regexTpl) + path[len(just):]
		d.h.setInline(":path", path)
	}
	return nil
}

func (e *Evaluator) finalizeUpstream(sel *Selection, d *decodedRequest) (*UpstreamRequest, error) {
	r := sel.rt
	if err := e.finalizeRequestHeaders(sel, d); err != nil {
		return nil, err
	}
	h := d.h
	if e.hcm.xray {
		e.injectXRay(h) // the router injects the request's span (accesslog.go)
	}
	method := d.method()
	authority, _ := h.first(":authority")
	up := &UpstreamRequest{
		Cluster:   r.cluster,
		Method:    method,
		Authority: authority,
		Path:      d.path(),
		Body:      d.body,
		Timeout:   r.timeout,
	}
	// HTTP/1 client codec (RequestEncoderImpl / StreamEncoderImpl::encodeHeadersBase in
	// source/common/http/http1/codec_impl.cc): ":authority" is written as "host" (first, as
	// pseudo-headers lead the map), other pseudo-headers are dropped; without
	// content-length, a headers-only request gets "content-length: 0" unless the method
	// should have no body (GET, HEAD, DELETE, TRACE, CONNECT:
	// HeaderUtility::requestShouldHaveNoBody), and a request with a streamed body gets
	// "transfer-encoding: chunked".
	if authority != "" {
		up.Headers = append(up.Headers, [2]string{"host", authority})
	}
	up.Headers = append(up.Headers, h.pairs(false)...)
	if !h.has("content-length") {
		switch {
		case d.framing == "chunked":
			up.Headers = append(up.Headers, [2]string{"transfer-encoding", "chunked"})
		case len(d.body) == 0 && !bodilessMethod(method):
			up.Headers = append(up.Headers, [2]string{"content-length", "0"})
		case len(d.body) > 0:
			up.Headers = append(up.Headers, [2]string{"content-length", strconv.Itoa(len(d.body))})
		}
	}
	return up, nil
}

func bodilessMethod(m string) bool {
	switch m { // exact, case-sensitive comparison as in requestShouldHaveNoBody
	case "GET", "HEAD", "DELETE", "TRACE", "CONNECT":
		return true
	}
	return false
}
