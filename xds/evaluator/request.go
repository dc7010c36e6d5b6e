package evaluator

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Request is a downstream HTTP/1.1 request as the client sent it.
type Request struct {
	Method    string      // :method
	Authority string      // :authority / Host, as sent; empty: taken from a "host" header in Headers
	Path      string      // :path exactly as sent: path + optional ?query
	Scheme    string      // "http" or "https": whether the downstream connection is TLS; "" means "http"
	Headers   [][2]string // client headers in order, names as sent (lower-cased like Envoy's codec)
	Body      []byte

	// RemoteAddr is the downstream peer address ("ip" or "ip:port"). It feeds
	// x-forwarded-for (use_remote_address), x-envoy-external-address and the
	// %DOWNSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT]% operators.
	RemoteAddr string
	// LocalAddr is the listener address the client connected to ("ip:port"); it feeds
	// x-forwarded-port (append_x_forwarded_port). (A loopback peer is replaced in XFF by
	// the server's address, WithServerAddress, not by this one.)
	LocalAddr string

	// decoded is set by ApplyExtProcHeaderMutation: the request as Envoy's filters see it
	// after the codec and the HCM processed it and the processor mutated it.
	decoded *decodedRequest
}

// RejectedError is returned when Envoy answers the request itself before routing (the
// codec or the HCM rejects it). Status and Details are what Envoy would put in the local
// reply; feed them to LocalReply with a nil route to get the client-visible response.
type RejectedError struct {
	Status  int
	Details string
	Reason  string
	// Body is the local reply's body: HTTP/1 codec errors carry the status text
	// (ServerConnectionImpl::sendProtocolError: CodeUtility::toString(code), e.g. "Bad
	// Request"), the HCM's own rejections none.
	Body string
	// Codec is true when the HTTP/1 codec refused the request before the HCM saw its
	// headers: the local reply then sees no request headers (StaticEmptyHeaders in
	// LocalReplyImpl::rewrite) and a HEAD request still gets the body (is_head_request_ is
	// set in ActiveStream::decodeHeaders, which never ran).
	Codec bool
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("evaluator: Envoy rejects the request with %d (%s): %s", e.Status, e.Details, e.Reason)
}

// decodedRequest is the request header map after the HTTP/1 codec and
// ConnectionManagerUtility::mutateRequestHeaders - what route matching and HTTP filters
// see.
type decodedRequest struct {
	h           *headerMap
	body        []byte
	trustedAddr string // final_remote_address, "ip[:port]"
	internal    bool
	framing     string // "content-length", "chunked" or "" (no body framing)
	// clientClose is HeaderUtility::shouldCloseConnection on the request as the client
	// sent it (HTTP/1.1 Connection or Proxy-Connection with a "close" token): the HCM marks
	// the stream to drain the connection, so every response gets connection: close.
	clientClose bool
}

func (d *decodedRequest) clone() *decodedRequest {
	c := *d
	c.h = d.h.clone()
	return &c
}

// hasBodyStream reports whether the request's headers were not its end: the HTTP/1 codec
// calls decodeHeaders with end_stream false only for a chunked request or a
// content-length > 0 (codec_impl.cc ServerConnectionImpl::onHeadersCompleteBase).
func (d *decodedRequest) hasBodyStream() bool { return d.framing == "chunked" || len(d.body) > 0 }

func (d *decodedRequest) method() string { v, _ := d.h.first(":method"); return v }
func (d *decodedRequest) path() string   { v, _ := d.h.first(":path"); return v }

// inlineRequestHeaders are the request headers Envoy keeps as O(1) inline headers. When a
// client repeats one of them, HeaderMapImpl::insertByKey (Envoy
// source/common/http/header_map_impl.cc, main 1.37.0-dev, 321a098d81) appends the value to
// the existing entry with "," (delimiterByHeader: "; " only for cookie, which no standard
// extension registers for requests) instead of adding a second entry, so every filter, the
// processor and the function's multiValueHeaders see one joined value. The set is
//   - the static ones: INLINE_REQ_STRING_HEADERS, INLINE_REQ_NUMERIC_HEADERS,
//     INLINE_REQ_RESP_STRING_HEADERS and INLINE_REQ_RESP_NUMERIC_HEADERS in
//     envoy/http/header_map.h (host is :authority);
//   - the custom inline headers that extensions compiled into the standard build
//     (source/extensions/extensions_build_config.bzl) register at static initialisation,
//     whether configured or not (RegisterCustomInlineHeader<...RequestHeaders>): cache and
//     cache_v2 (authorization, pragma, cache-control, if-match, if-none-match,
//     if-modified-since, if-unmodified-since, if-range), compressor and decompressor
//     (accept-encoding, cache-control, content-encoding), cors
//     (access-control-request-headers, access-control-request-method,
//     access-control-request-private-network, origin), csrf (origin, referer), jwt_authn,
//     grpc_web (accept, grpc-accept-encoding), grpc_http1_reverse_bridge (accept),
//     cdn_loop (cdn-loop), oauth2 (authorization), the gRPC and OpenTelemetry access
//     loggers and CEL (referer), the SkyWalking tracer (authentication).
var inlineRequestHeaders = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`
		x-client-trace-id x-envoy-downstream-service-cluster x-envoy-downstream-service-node
		x-envoy-external-address x-envoy-force-trace x-envoy-hedge-on-per-try-timeout
		x-envoy-internal x-envoy-ip-tags x-envoy-retry-on x-envoy-retry-grpc-on
		x-envoy-retriable-status-codes x-envoy-retriable-header-names x-envoy-is-timeout-retry
		x-envoy-original-path x-envoy-original-host x-envoy-original-url
		x-envoy-upstream-alt-stat-name x-envoy-upstream-rq-timeout-alt-response expect
		x-forwarded-client-cert x-forwarded-for x-forwarded-host x-forwarded-proto grpc-timeout
		te user-agent
		x-envoy-expected-rq-timeout-ms x-envoy-max-retries x-envoy-upstream-rq-timeout-ms
		x-envoy-upstream-rq-per-try-timeout-ms x-envoy-upstream-stream-duration-ms x-forwarded-port
		connection content-type x-envoy-decorator-operation keep-alive proxy-connection
		proxy-status x-request-id transfer-encoding upgrade via
		content-length x-envoy-attempt-count
		accept accept-encoding access-control-request-headers access-control-request-method
		access-control-request-private-network authentication authorization cache-control
		cdn-loop content-encoding grpc-accept-encoding if-match if-modified-since if-none-match
		if-range if-unmodified-since origin pragma referer`) {
		inlineRequestHeaders[n] = true
	}
}

// buildRequestMap validates req and builds the header map the HTTP/1 codec produces.
func buildRequestMap(req *Request) (*headerMap, error) {
	if req.Method == "" {
		return nil, fmt.Errorf("evaluator: request without a method")
	}
	if !strings.HasPrefix(req.Path, "/") {
		return nil, fmt.Errorf("evaluator: only origin-form paths are modelled, got %q", req.Path)
	}
	scheme := req.Scheme
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("evaluator: scheme %q: want http or https", scheme)
	}
	h := newRequestMap()
	h.add(":method", req.Method)
	h.add(":path", req.Path)
	authority, hasAuthority := req.Authority, req.Authority != ""
	for _, kv := range req.Headers {
		k := strings.ToLower(kv[0])
		switch {
		case strings.HasPrefix(k, ":"):
			return nil, fmt.Errorf("evaluator: pseudo-header %q in Request.Headers; use the Request fields", kv[0])
		case k == "host":
			// HTTP/1: the Host header becomes :authority.
			if hasAuthority && kv[1] != authority {
				return nil, fmt.Errorf("evaluator: Request.Authority %q and Host header %q differ", authority, kv[1])
			}
			authority, hasAuthority = kv[1], true
			continue
		}
		if inlineRequestHeaders[k] && h.has(k) {
			h.appendInline(k, kv[1], ",")
			continue
		}
		h.add(k, kv[1])
	}
	if hasAuthority {
		h.add(":authority", authority)
	}
	return h, nil
}

// rawDecode is the request as the codec produced it, before the HCM (for local replies
// Envoy sends before it processes the request).
func (e *Evaluator) rawDecode(req *Request) (*decodedRequest, error) {
	h, err := buildRequestMap(req)
	if err != nil {
		return nil, err
	}
	return &decodedRequest{h: h, body: req.Body, trustedAddr: req.RemoteAddr}, nil
}

// decode turns the client request into Envoy's request header map (codec + HCM). The
// result is shared by Select, Forward and Respond.
func (e *Evaluator) decode(req *Request) (*decodedRequest, error) {
	if req == nil {
		return nil, fmt.Errorf("evaluator: nil request")
	}
	if req.decoded != nil {
		return req.decoded.clone(), nil
	}
	if rej := e.codecCheck(req); rej != nil {
		return nil, rej
	}
	h, err := buildRequestMap(req)
	if err != nil {
		return nil, err
	}
	// HTTP/1.1 without Host: the HCM answers 400 (ResponseCodeDetails "missing_host_header").
	if !h.has(":authority") {
		return nil, &RejectedError{Status: 400, Details: "missing_host_header", Reason: "HTTP/1.1 request without Host"}
	}
	// Request line fragment: ConnectionManagerUtility::maybeNormalizePath rejects a path
	// with '#' (runtime envoy.reloadable_features.http_reject_path_with_fragment, default
	// true) with 400.
	if strings.Contains(req.Path, "#") {
		return nil, &RejectedError{Status: 400, Details: "http.invalid_path", Reason: "path with a fragment"}
	}
	// Framing of the body as the client sent it.
	d := &decodedRequest{h: h, body: req.Body, clientClose: shouldCloseConnection(h)}
	switch {
	case h.has("transfer-encoding"):
		d.framing = "chunked"
	case h.has("content-length"):
		cl, _ := h.first("content-length")
		n, err := strconv.Atoi(cl)
		if err != nil || n != len(req.Body) {
			return nil, &RejectedError{Status: 400, Details: "http1.codec_error", Reason: fmt.Sprintf("content-length %q does not match a %d-byte body", cl, len(req.Body))}
		}
		d.framing = "content-length"
	case len(req.Body) > 0:
		// A body needs framing on HTTP/1.1; the evaluator assumes the client sent
		// Content-Length.
		h.add("content-length", strconv.Itoa(len(req.Body)))
		d.framing = "content-length"
	}

	// Upgrade requests: without upgrade_configs the HCM refuses them with 403
	// (ResponseCodeDetails "upgrade_failed"); upgrades are not modelled.
	if isUpgrade(h) {
		return nil, &RejectedError{Status: 403, Details: "upgrade_failed", Reason: "upgrade requests are not modelled (no upgrade_configs)"}
	}
	// HTTP/1 codec: Http::Utility::sanitizeConnectionHeader (ServerConnectionImpl::
	// onHeadersCompleteBase) removes headers nominated by Connection and rejects abusive
	// nominations with 400.
	if h.has("connection") {
		if err := sanitizeConnectionHeader(h); err != nil {
			return nil, err
		}
	}
	if err := e.mutateRequestHeaders(d, req); err != nil {
		return nil, err
	}
	// proxy_100_continue false (HCM-14): "Envoy will instead strip the Expect: 100-Continue
	// header, and send a 100 Continue response itself" (HCM proto).
	if !e.hcm.proxy100Continue {
		if v, ok := h.first("expect"); ok && strings.EqualFold(v, "100-continue") {
			h.remove("expect")
		}
	}
	return d, nil
}

// shouldCloseConnection is HeaderUtility::shouldCloseConnection for HTTP/1.1 (Envoy
// source/common/http/header_utility.cc, main 1.37.0-dev, 321a098d81): a "close" token in
// Connection or Proxy-Connection.
func shouldCloseConnection(h *headerMap) bool {
	for _, n := range []string{"connection", "proxy-connection"} {
		if v, ok := h.first(n); ok && hasToken(v, "close") {
			return true
		}
	}
	return false
}

// codecCheck is what Envoy's HTTP/1 server codec refuses before the HCM sees the request
// (Envoy source/common/http/http1/balsa_parser.cc and codec_impl.cc, main 1.37.0-dev,
// 321a098d81). Each refusal goes through ServerConnectionImpl::sendProtocolError: a local
// reply whose body is the status text.
//
//   - Header block size: BalsaFrame (quiche/balsa/balsa_frame.cc ProcessInput /
//     ProcessHeaders) counts the raw header block - the request line with the whole target,
//     every header line with its ": " and CRLF, Host included, and the blank line ending the
//     block - against max_header_length = max_request_headers_kb * 1024; a block longer
//     than that is HEADERS_TOO_LONG -> 431 "Request Header Fields Too Large"
//     (http1.headers_too_large). The evaluator renders each header as "name: value\r\n",
//     the form HTTP clients send. If the request line's LF lies beyond the limit the first
//     line is never validated and the answer is 431 too.
//   - Request line: BalsaParser::OnRequestFirstLineInput refuses a method outside the
//     http-parser list unless http_protocol_options.allow_custom_methods (isMethodValid,
//     HPE_INVALID_METHOD) and a target with a space, a control character, DEL or a byte
//     >= 0x80 (balsaURLValid): 400 "Bad Request" (http1.codec_error).
//   - Header lines: a control character (but tab) or DEL in a header, or a name that is not
//     a token: 400 "Bad Request" (see below).
//   - Header count: ConnectionImpl::completeCurrentHeader checks the header map's size(),
//     Host included (a repeated inline header joins its first entry), against
//     common_http_protocol_options.max_headers_count: 431 (http1.too_many_headers).
func (e *Evaluator) codecCheck(req *Request) *RejectedError {
	const tooLarge, badRequest = "Request Header Fields Too Large", "Bad Request"
	limit := e.hcm.maxHeadersKB * 1024
	firstLine := len(req.Method) + 1 + len(req.Path) + 1 + len("HTTP/1.1") + 2
	block := firstLine
	// The count is the header map's size(): a repeated inline header joins the first entry
	// (insertByKey) and does not add one; host is the inline :authority.
	entries := 0
	seenInline := map[string]bool{}
	hasHost := false
	for _, kv := range req.Headers {
		block += len(kv[0]) + 2 + len(kv[1]) + 2
		k := asciiLower(kv[0])
		if k == "host" {
			hasHost = true
			k = ":authority"
		}
		if inlineRequestHeaders[k] || k == ":authority" {
			if seenInline[k] {
				continue
			}
			seenInline[k] = true
		}
		entries++
	}
	if !hasHost && req.Authority != "" {
		block += len("host: ") + len(req.Authority) + 2
		entries++
	}
	block += 2
	if firstLine > limit {
		return &RejectedError{Status: 431, Details: "http1.headers_too_large", Body: tooLarge, Codec: true,
			Reason: fmt.Sprintf("%d-byte request line > max_request_headers_kb %d", firstLine, e.hcm.maxHeadersKB)}
	}
	if !e.hcm.allowCustomMethods && !httpParserMethods[req.Method] || e.hcm.allowCustomMethods && !isToken(req.Method) {
		return &RejectedError{Status: 400, Details: "http1.codec_error", Body: badRequest, Codec: true, Reason: fmt.Sprintf("method %q (HPE_INVALID_METHOD)", req.Method)}
	}
	if !balsaURLValid(req.Path) {
		return &RejectedError{Status: 400, Details: "http1.codec_error", Body: badRequest, Codec: true, Reason: fmt.Sprintf("request target %q (HPE_INVALID_URL)", req.Path)}
	}
	if block > limit {
		return &RejectedError{Status: 431, Details: "http1.headers_too_large", Body: tooLarge, Codec: true,
			Reason: fmt.Sprintf("%d-byte header block > max_request_headers_kb %d", block, e.hcm.maxHeadersKB)}
	}
	// BalsaFrame::CheckHeaderLinesForInvalidChars (InvalidCharsLevel::kError): a control
	// character other than tab, or DEL, anywhere in the header lines -> "header value
	// contains invalid chars" (http1.invalid_characters); a CR or LF inside a value would
	// break the line. Then BalsaParser::isHeaderNameValid: a name that is not a token ->
	// HPE_INVALID_HEADER_TOKEN. Both 400.
	for _, kv := range req.Headers {
		for i := 0; i < len(kv[0])+len(kv[1]); i++ {
			var c byte
			if i < len(kv[0]) {
				c = kv[0][i]
			} else {
				c = kv[1][i-len(kv[0])]
			}
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return &RejectedError{Status: 400, Details: "http1.invalid_characters", Body: badRequest, Codec: true, Reason: fmt.Sprintf("header %q: invalid character %#x", kv[0], c)}
			}
		}
	}
	for _, kv := range req.Headers {
		if !isToken(kv[0]) {
			return &RejectedError{Status: 400, Details: "http1.codec_error", Body: badRequest, Codec: true, Reason: fmt.Sprintf("header name %q (HPE_INVALID_HEADER_TOKEN)", kv[0])}
		}
	}
	if entries > e.hcm.maxHeadersCount {
		return &RejectedError{Status: 431, Details: "http1.too_many_headers", Body: tooLarge, Codec: true,
			Reason: fmt.Sprintf("%d headers > max_headers_count %d", entries, e.hcm.maxHeadersCount)}
	}
	return nil
}

// httpParserMethods is balsa_parser.cc isMethodValid's kValidMethods.
var httpParserMethods = map[string]bool{}

func init() {
	for _, m := range strings.Fields(`ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK MERGE
		MKACTIVITY MKCALENDAR MKCOL MOVE MSEARCH NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE
		PUT REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE`) {
		httpParserMethods[m] = true
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// balsaURLValid is what Envoy's parser accepts as an origin-form target. BalsaFrame
// (quiche/balsa/balsa_frame.cc ParseHTTPFirstLine / ParseOneIsland) splits the request
// line at every byte <= ' ' (space, tab, form feed, any control character), so such a byte
// inside the target leaves the rest of the target in the version, which
// BalsaParser::isVersionValid refuses (HPE_INVALID_VERSION); BalsaParser::isUrlValid then
// accepts only '!' <= c <= 126 for a signed char c, refusing DEL and every byte >= 0x80
// (HPE_INVALID_URL). Either way: 400. Absolute-form targets are not modelled
// (buildRequestMap refuses them).
func balsaURLValid(u string) bool {
	if u == "" {
		return false
	}
	if u[0] != '/' && u[0] != '*' {
		return true // left to buildRequestMap
	}
	for i := 1; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func hasToken(v, tok string) bool {
	for _, t := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// isUpgrade is Http::Utility::isUpgrade: Connection contains "upgrade" and Upgrade is set.
func isUpgrade(h *headerMap) bool {
	c, ok := h.first("connection")
	return ok && h.has("upgrade") && hasToken(c, "upgrade")
}

func sanitizeConnectionHeader(h *headerMap) error {
	c, _ := h.first("connection")
	var tokens []string
	for _, t := range strings.Split(c, ",") {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) >= 10 {
		return &RejectedError{Status: 400, Details: "http1.connection_header_rejected", Reason: "10 or more headers nominated by Connection"}
	}
	var keep []string
	for _, t := range tokens {
		tok := strings.TrimSpace(t)
		lt := strings.ToLower(tok)
		switch lt {
		case "close", "http2-settings", "keep-alive", "upgrade":
			keep = append(keep, t)
			continue
		case "connection":
			continue
		case "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto":
			return &RejectedError{Status: 400, Details: "http1.connection_header_rejected", Reason: "Connection nominates " + lt}
		}
		if strings.HasPrefix(lt, ":") {
			return &RejectedError{Status: 400, Details: "http1.connection_header_rejected", Reason: "Connection nominates a pseudo-header"}
		}
		if lt == "te" {
			if v, ok := h.first("te"); ok {
				if len(v) >= 256 {
					return &RejectedError{Status: 400, Details: "http1.connection_header_rejected", Reason: "TE value too long"}
				}
				if hasToken(v, "trailers") {
					h.setInline("te", "trailers")
					keep = append(keep, t)
					continue
				}
			}
		}
		h.remove(lt)
	}
	if len(keep) == 0 {
		h.remove("connection")
	} else {
		h.setInline("connection", strings.Join(keep, ","))
	}
	return nil
}

// mutateRequestHeaders is ConnectionManagerUtility::mutateRequestHeaders
// (source/common/http/conn_manager_utility.cc) for a non-upgrade HTTP/1.1 request, plus the
// TE sanitisation of envoy PR#30535/#32255 (runtime envoy.reloadable_features.sanitize_te):
//   - connection, upgrade, x-envoy-internal, keep-alive, proxy-connection and
//     transfer-encoding are removed (hop-by-hop); te keeps only "trailers";
//   - a referer that is repeated or not an absolute URL is removed;
//   - use_remote_address: the trusted client address is the peer (or the Nth address from
//     the right of XFF with xff_num_trusted_hops N), the peer is appended to
//     x-forwarded-for unless skip_xff_append (a loopback peer is replaced by the server's
//     LocalInfo address), x-forwarded-proto is overwritten with the connection's scheme unless a
//     trusted hop set it, x-forwarded-port is set from the listener port when
//     append_x_forwarded_port;
//   - x-forwarded-proto is set when absent;
//   - the request is internal only if XFF was absent and the trusted address is in
//     internal_address_config (none by default since 1.33); internal requests get
//     x-envoy-internal: true, external ones lose the x-envoy-* control headers
//     (cleanInternalHeaders) and, at the edge, get x-envoy-external-address;
//   - x-request-id is set (forced at the edge unless preserve_external_request_id) when
//     generate_request_id (default true);
//   - x-forwarded-client-cert is removed unless ALWAYS_FORWARD_ONLY (the evaluator models
//     connections without client certificates).
//
// Docs: "HTTP header manipulation" (headers.rst) and "HTTP header sanitizing"
// (header_sanitizing.rst).
func (e *Evaluator) mutateRequestHeaders(d *decodedRequest, req *Request) error {
	h := d.h
	cfg := e.hcm
	h.remove("connection")
	h.remove("upgrade")
	if v, ok := h.first("te"); ok {
		if hasToken(v, "trailers") {
			h.setInline("te", "trailers")
		} else {
			h.remove("te")
		}
	}
	h.remove("x-envoy-internal")
	h.remove("keep-alive")
	h.remove("proxy-connection")
	h.remove("transfer-encoding")
	if refs := h.get("referer"); len(refs) > 1 {
		h.remove("referer")
	} else if len(refs) == 1 {
		if u, err := url.Parse(refs[0]); err != nil || u.Scheme == "" || u.Host == "" {
			h.remove("referer")
		}
	}

	scheme := req.Scheme
	if scheme == "" {
		scheme = "http"
	}
	peer := req.RemoteAddr
	var trusted string
	allowTrustedChecks := false
	if cfg.useRemoteAddress {
		if peer == "" {
			return fmt.Errorf("evaluator: use_remote_address is set; Request.RemoteAddr is required")
		}
		_, hadXFF := h.first("x-forwarded-for")
		allowTrustedChecks = !hadXFF
		if cfg.xffHops > 0 {
			trusted = lastXFFAddress(h, int(cfg.xffHops)-1)
		}
		if trusted == "" {
			trusted = peer
		}
		if !cfg.skipXffAppend {
			ip := net.ParseIP(hostOnly(peer))
			if ip == nil {
				return fmt.Errorf("evaluator: Request.RemoteAddr %q is not an IP address", peer)
			}
			// ConnectionManagerUtility::appendXff (Envoy source/common/http/
			// conn_manager_utility.cc, main 1.37.0-dev, 321a098d81): a loopback peer is
			// replaced by config.localAddress() - the server's LocalInfo address
			// (WithServerAddress), not the listener's. The trusted address (and
			// x-envoy-external-address) stays the peer.
			appended := ip.String()
			if ip.IsLoopback() {
				appended = e.serverAddr
			}
			h.appendInline("x-forwarded-for", appended, ",")
		}
		if _, ok := h.first("x-forwarded-proto"); cfg.xffHops == 0 || !ok {
			h.setInline("x-forwarded-proto", scheme)
		}
		if _, ok := h.first("x-forwarded-port"); cfg.appendXForwardedPort && (cfg.xffHops == 0 || !ok) {
			if err := setForwardedPort(h, req); err != nil {
				return err
			}
		}
	} else {
		// Without use_remote_address the HCM's default original IP detection (the XFF
		// extension with xff_num_trusted_hops) takes the (N+1)th address from the right of
		// XFF; the request can only be internal when XFF holds a single address. Without a
		// usable XFF the peer address is used, and the request is external.
		trusted = lastXFFAddress(h, int(cfg.xffHops))
		if v, ok := h.first("x-forwarded-for"); ok && trusted != "" && cfg.xffHops == 0 && !strings.Contains(v, ",") {
			allowTrustedChecks = true
		}
	}
	if !h.has("x-forwarded-proto") {
		h.setInline("x-forwarded-proto", scheme)
	}
	// "If :scheme is not set, sets :scheme based on X-Forwarded-Proto if a valid scheme,
	// else encryption level" - an HTTP/1 request line carries no scheme.
	if xfp, _ := h.first("x-forwarded-proto"); xfp == "http" || xfp == "https" {
		h.add(":scheme", xfp)
	} else {
		h.add(":scheme", scheme)
	}
	if cfg.appendXForwardedPort && !h.has("x-forwarded-port") {
		if err := setForwardedPort(h, req); err != nil {
			return err
		}
	}
	internal := false
	if allowTrustedChecks && trusted != "" {
		if ip := net.ParseIP(hostOnly(trusted)); ip != nil {
			for _, n := range cfg.internal {
				if n.Contains(ip) {
					internal = true
				}
			}
		}
	}
	if trusted == "" {
		trusted = peer
	}
	d.trustedAddr, d.internal = trusted, internal
	edge := !internal && cfg.useRemoteAddress
	if internal {
		h.setInline("x-envoy-internal", "true")
	} else {
		// ConnectionManagerUtility::cleanInternalHeaders (main 1.37.0-dev, 321a098d81): at the
		// edge also x-envoy-original-path and x-envoy-original-host.
		if edge {
			h.remove("x-envoy-decorator-operation")
			h.remove("x-envoy-downstream-service-cluster")
			h.remove("x-envoy-downstream-service-node")
			h.remove("x-envoy-original-path")
			h.remove("x-envoy-original-host")
		}
		for _, n := range []string{"x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
			"x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries", "x-envoy-upstream-alt-stat-name",
			"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
			"x-envoy-upstream-rq-timeout-alt-response", "x-envoy-expected-rq-timeout-ms", "x-envoy-force-trace",
			"x-envoy-ip-tags", "x-envoy-original-url", "x-envoy-hedge-on-per-try-timeout"} {
			h.remove(n)
		}
	}
	if edge && net.ParseIP(hostOnly(trusted)) != nil {
		h.setInline("x-envoy-external-address", hostOnly(trusted))
	}
	if cfg.generateRequestID {
		force := !cfg.preserveExternalRequestID && edge
		if force || !h.has("x-request-id") {
			h.setInline("x-request-id", e.uuid())
		}
	}
	if cfg.fcc != hcmv3.HttpConnectionManager_ALWAYS_FORWARD_ONLY {
		h.remove("x-forwarded-client-cert")
	}
	if internal {
		for _, n := range []string{"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-max-retries", "x-envoy-retry-on"} {
			if h.has(n) {
				return fmt.Errorf("evaluator: internal request with %s: router overrides from request headers are not modelled", n)
			}
		}
	}
	return nil
}

func setForwardedPort(h *headerMap, req *Request) error {
	_, port, err := net.SplitHostPort(req.LocalAddr)
	if err != nil {
		return fmt.Errorf("evaluator: append_x_forwarded_port needs Request.LocalAddr as ip:port, got %q", req.LocalAddr)
	}
	h.setInline("x-forwarded-port", port)
	return nil
}

// lastXFFAddress is Http::Utility::getLastAddressFromXFF: skip numToSkip addresses from
// the right, return the next one if it parses as an IP.
func lastXFFAddress(h *headerMap, numToSkip int) string {
	v, ok := h.first("x-forwarded-for")
	if !ok {
		return ""
	}
	parts := strings.Split(v, ",")
	i := len(parts) - 1 - numToSkip
	if i < 0 {
		return ""
	}
	a := strings.TrimSpace(parts[i])
	if net.ParseIP(a) == nil {
		return ""
	}
	// An address parsed from XFF has port 0 (%DOWNSTREAM_REMOTE_ADDRESS% renders "ip:0").
	return net.JoinHostPort(a, "0")
}
