package lambdaproxy

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
)

// This file builds the Lambda proxy event of a REST API (payload format 1.0, apigateway-rest §3 and §4) with a
// hand-written append encoder: encoding/json and aws-lambda-go's structs cannot express the event's explicit
// nulls and falses (§10 traps 2 and 3), and the encoder must not allocate in steady state (performance-targets
// P1). Keys are written in a fixed order: the top level and requestContext in the order of EVT-1 and EVT-23,
// header, query and stage-variable names sorted (byte order of the names as written), path parameters in path
// order. Strings are written as UTF-8 with only '"', '\' and control characters escaped; invalid UTF-8 is
// replaced by U+FFFD byte by byte, as encoding/json does (EVT-22).
//
// Unexported identifiers of this file start with "ev": the package is shared with the response converter.

// AppendEvent appends the API Gateway REST (payload 1.0) Lambda proxy event for req on route to dst.
//
// req is the request as the ext_proc processor sees it (names lower-case, pseudo-headers split out); c holds the
// values the gateway generated for it. The error reports a request the route cannot have matched (another stage,
// a path outside the resource template); dst is then returned unchanged.
func AppendEvent(dst []byte, route *ir.ProcessorRoute, req *Request, c *Context) ([]byte, error) {
	return appendEvent(dst, route, nil, req, c)
}

// EventRoute holds the parts of a route's events that only the route (and the account) decide, written once by
// PrepareEventRoute: the resource, the stage variables (sorted, escaped), requestContext's accountId, apiId,
// deploymentId, operationName, resourceId, resourcePath and stage. AppendPreparedEvent copies them. For
// REF-EVENT they were ≈ 1.3k of BenchmarkLambdaServe's ≈ 57k instructions per request: thirteen strings to
// escape and the stage variables to sort on every request (callgrind, Dec 2026).
type EventRoute struct {
	route     *ir.ProcessorRoute
	accountID string
	// The fragments, each written by the function AppendEvent uses for it.
	head, context, deployment, operation, tail []byte
	// paramKeys are the path parameters' keys with the separator before each ({"name": and ,"name":), in path order.
	paramKeys [][]byte
}

// PrepareEventRoute writes route's constant event parts for account accountID (requestContext.accountId).
func PrepareEventRoute(route *ir.ProcessorRoute, accountID string) *EventRoute {
	var keys []string
	er := &EventRoute{
		route:      route,
		accountID:  accountID,
		head:       evAppendHead(nil, route),
		context:    evAppendContextHead(nil, route, accountID, &keys),
		deployment: evAppendDeployment(nil, route),
		operation:  evAppendOperation(nil, route),
		tail:       evAppendTail(nil, route),
	}
	for _, seg := range route.Route.Segments {
		if seg.Kind == ir.Param || seg.Kind == ir.Greedy {
			er.paramKeys = append(er.paramKeys, evAppendKey(nil, len(er.paramKeys), seg.Text))
		}
	}
	return er
}

// Route is the route er was prepared for.
func (er *EventRoute) Route() *ir.ProcessorRoute { return er.route }

// AccountID is the account er was prepared for.
func (er *EventRoute) AccountID() string { return er.accountID }

// AppendPreparedEvent is AppendEvent(dst, er.Route(), req, c), byte for byte, with er's parts copied.
func AppendPreparedEvent(dst []byte, er *EventRoute, req *Request, c *Context) ([]byte, error) {
	if c.AccountID != er.accountID {
		return appendEvent(dst, er.route, nil, req, c)
	}
	return appendEvent(dst, er.route, er, req, c)
}

// appendEvent is AppendEvent, with the route's constant parts copied from er when it is not nil.
func appendEvent(dst []byte, route *ir.ProcessorRoute, er *EventRoute, req *Request, c *Context) ([]byte, error) {
	rawPath, query, _ := strings.Cut(req.Path, "?")
	stage, rest, ok := translator.SplitStagePath(rawPath)
	if !ok || stage != route.Stage {
		return dst, fmt.Errorf("lambdaproxy: path %q is not under stage %q of API %s", rawPath, route.Stage, route.APIID)
	}
	s := evPool.Get().(*evScratch)
	defer s.release()
	var matched bool
	if s.params, matched = translator.AppendParams(s.params[:0], route.Route.Segments, rest); !matched {
		return dst, fmt.Errorf("lambdaproxy: path %q does not match resource %s of route %s", rawPath,
			route.Route.ResourcePath, route.Route.Name)
	}
	host, userAgent, contentType := s.collectHeaders(req, c)
	s.parseQuery(query)

	if er != nil {
		dst = append(dst, er.head...)
	} else {
		dst = evAppendHead(dst, route)
	}
	// EVT-3: the stage and the slashes around it removed; inner "//", the trailing slash and percent-encoding kept.
	dst = evAppendStringBody(dst, rest)
	dst = append(dst, `","httpMethod":`...)
	method0 := len(dst)
	dst = evAppendString(dst, req.Method)
	method1 := len(dst)
	dst = s.appendHeaders(dst, req.Headers, host, c.TraceID)
	dst = s.appendQuery(dst)

	dst = append(dst, `,"pathParameters":`...)
	switch {
	case len(s.params) == 0:
		dst = append(dst, "null"...)
	case er != nil && len(er.paramKeys) == len(s.params):
		// The keys as PrepareEventRoute wrote them: the parameters are the template's, in its order (escaping the
		// key on every request was ≈ 0.15k instructions for REF-EVENT's one parameter, callgrind, Dec 2026).
		for i, p := range s.params {
			dst = append(dst, er.paramKeys[i]...)
			dst = evAppendString(dst, p.Value)
		}
		dst = append(dst, '}')
	default:
		for i, p := range s.params {
			dst = evAppendKey(dst, i, p.Name)
			dst = evAppendString(dst, p.Value)
		}
		dst = append(dst, '}')
	}

	if er != nil {
		dst = append(dst, er.context...)
	} else {
		dst = evAppendContextHead(dst, route, c.AccountID, &s.keys)
	}
	if len(req.Authorizer) > 0 {
		// AUTHORIZERS.md §3: the Lambda authorizer's principalId and context reach the integration. A method has
		// one authorizer, so Authorizer (CUSTOM) and Auth.Claims (Cognito) never both fill requestContext.authorizer.
		dst = append(dst, `,"authorizer":`...)
		dst = append(dst, req.Authorizer...)
	} else {
		dst = appendAuthorizer(dst, req.Auth)
	}
	if er != nil {
		dst = append(dst, er.deployment...)
	} else {
		dst = evAppendDeployment(dst, route)
	}
	// The method, the host and the user agent are copied as headers and httpMethod wrote them, and the domain
	// prefix, a part of the host, as it is when the host needed no escape: escaping them again was ≈ 0.5k of
	// AppendPreparedEvent's ≈ 20.8k instructions for REF-EVENT (BenchmarkEventEncode/prepared, callgrind, Dec 2026).
	if s.hostEnd > 0 {
		dst = append(dst, dst[s.host0:s.hostEnd]...)
	} else {
		dst = evAppendString(dst, host)
	}
	dst = append(dst, `,"domainPrefix":`...)
	if prefix := evDomainPrefix(host); s.hostEnd-s.host0 == len(host)+2 { // no escape lengthened the host
		dst = append(dst, '"')
		dst = append(dst, prefix...)
		dst = append(dst, '"')
	} else {
		dst = evAppendString(dst, prefix)
	}
	dst = append(dst, `,"extendedRequestId":`...)
	dst = evAppendString(dst, c.ExtendedRequestID)
	dst = append(dst, `,"httpMethod":`...)
	dst = append(dst, dst[method0:method1]...)
	// EVT-24: no authorizer, API key, client certificate or VPC endpoint, so only these two carry a value.
	dst = append(dst, `,"identity":{"accessKey":null,"accountId":null,`...)
	dst = appendAPIKey(dst, req.Auth)
	dst = append(dst, `"caller":null,`+
		`"cognitoAuthenticationProvider":null,"cognitoAuthenticationType":null,"cognitoIdentityId":null,`+
		`"cognitoIdentityPoolId":null,"principalOrgId":null,"sourceIp":`...)
	dst = evAppendStringOrNull(dst, req.SourceIP, req.SourceIP != "")
	dst = append(dst, `,"user":null,"userAgent":`...)
	if s.uaEnd > 0 {
		dst = append(dst, dst[s.ua0:s.uaEnd]...)
	} else {
		dst = evAppendStringOrNull(dst, userAgent.value, userAgent.ok)
	}
	dst = append(dst, `,"userArn":null}`...)
	if er != nil {
		dst = append(dst, er.operation...)
	} else {
		dst = evAppendOperation(dst, route)
	}
	// requestContext.path keeps the stage and what follows it as sent; only the slashes before the stage go
	// (RTE-2, RTE-3).
	dst = append(dst, `,"path":"/`...)
	dst = evAppendStringBody(dst, strings.TrimLeft(rawPath, "/"))
	dst = append(dst, `","protocol":`...)
	// HTTP/1.1, nearly every request's, as a literal (escaping it was ≈ 0.1k instructions, callgrind, Dec 2026).
	if protocol := req.Protocol; protocol == "" || protocol == "HTTP/1.1" {
		dst = append(dst, `"HTTP/1.1"`...)
	} else {
		dst = evAppendString(dst, protocol)
	}
	dst = append(dst, `,"requestId":`...)
	dst = evAppendString(dst, c.RequestID)
	dst = append(dst, `,"requestTime":"`...)
	dst = s.appendTime(dst, c.Now)
	if er != nil {
		dst = append(dst, er.tail...)
	} else {
		dst = evAppendTail(dst, route)
	}
	// EVT-20, EVT-21: null without a body; base64 only when Content-Type is a binary media type.
	switch {
	case len(req.Body) == 0:
		dst = append(dst, `null,"isBase64Encoded":false}`...)
	// Most APIs list no binary media type: the Content-Type is not parsed then (≈ 0.17k instructions for
	// REF-EVENT; callgrind, Dec 2026).
	case contentType.ok && len(route.BinaryMediaTypes) > 0 && matchesBinaryMediaType(contentType.value, route.BinaryMediaTypes):
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, req.Body)
		dst = append(dst, `","isBase64Encoded":true}`...)
	default:
		dst = append(dst, '"')
		// The body is only read, and not kept past this call.
		dst = evAppendStringBody(dst, unsafe.String(unsafe.SliceData(req.Body), len(req.Body)))
		dst = append(dst, `","isBase64Encoded":false}`...)
	}
	return dst, nil
}

// The route's constant parts of the event, in the order they come (EventRoute).

// evAppendHead is the event's start up to the path's first character.
func evAppendHead(dst []byte, route *ir.ProcessorRoute) []byte {
	dst = append(dst, `{"resource":`...)
	dst = evAppendString(dst, route.Route.ResourcePath)
	return append(dst, `,"path":"/`...)
}

// evAppendContextHead is pathParameters' successors: stageVariables (names sorted) and requestContext up to apiId.
func evAppendContextHead(dst []byte, route *ir.ProcessorRoute, accountID string, keys *[]string) []byte {
	dst = append(dst, `,"stageVariables":`...)
	if len(route.StageVariables) == 0 {
		dst = append(dst, "null"...)
	} else {
		*keys = (*keys)[:0]
		for k := range route.StageVariables {
			*keys = append(*keys, k)
		}
		slices.Sort(*keys)
		for i, k := range *keys {
			dst = evAppendKey(dst, i, k)
			dst = evAppendString(dst, route.StageVariables[k])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"requestContext":{"accountId":`...)
	dst = evAppendString(dst, accountID)
	dst = append(dst, `,"apiId":`...)
	return evAppendString(dst, route.APIID)
}

// evAppendDeployment is requestContext.deploymentId and the key of domainName.
func evAppendDeployment(dst []byte, route *ir.ProcessorRoute) []byte {
	dst = append(dst, `,"deploymentId":`...)
	dst = evAppendString(dst, route.DeploymentID)
	return append(dst, `,"domainName":`...)
}

// evAppendOperation is requestContext.operationName, when the method has one (EVT-26).
func evAppendOperation(dst []byte, route *ir.ProcessorRoute) []byte {
	if route.Route.OperationName == "" {
		return dst
	}
	dst = append(dst, `,"operationName":`...)
	return evAppendString(dst, route.Route.OperationName)
}

// evAppendTail is requestContext's end (resourceId, resourcePath, stage) and the key of body.
func evAppendTail(dst []byte, route *ir.ProcessorRoute) []byte {
	dst = append(dst, `,"resourceId":`...)
	dst = evAppendString(dst, route.Route.ResourceID)
	dst = append(dst, `,"resourcePath":`...)
	dst = evAppendString(dst, route.Route.ResourcePath)
	dst = append(dst, `,"stage":`...)
	dst = evAppendString(dst, route.Stage)
	return append(dst, `},"body":`...)
}

// evScratch is the per-call working memory, pooled so that a warm AppendEvent allocates nothing.
type evScratch struct {
	hdrs   []evHeader
	outs   []evHeaderOut // appendHeaders' record of hdrs
	names  []byte        // header names as written in the event (JSON string bodies); evHeader holds offsets into it
	query  []evQueryParam
	qouts  []evQueryOut // appendQuery's record of query
	qbuf   []byte       // decoded query names and values; evQueryParam holds offsets into it
	params []translator.PathParam
	keys   []string

	// timeText is requestTime's value, its closing quote, the key of requestTimeEpoch and that value's seconds,
	// for the second timeSec (appendTime); empty before the first request.
	timeText []byte
	timeSec  int64

	// hostName0 and uaName0 are the names' offsets (evHeader.name0) of the Host line and the last User-Agent line, -1
	// without one; host0:hostEnd and ua0:uaEnd are where appendHeaders wrote their values (hostEnd 0: not written).
	hostName0, uaName0         int32
	host0, hostEnd, ua0, uaEnd int
}

var evPool = sync.Pool{New: func() any { return new(evScratch) }}

// evMaxPooled bounds what a pooled scratch keeps, so that one huge request does not pin its buffers.
const evMaxPooled = 64 << 10

func (s *evScratch) release() {
	// Drop the references to the request's strings before pooling; by element, as there are few (clear's two calls
	// were ≈ 0.13k instructions for one path parameter and no key; callgrind, Dec 2026).
	for i := range s.params {
		s.params[i] = translator.PathParam{}
	}
	for i := range s.keys {
		s.keys[i] = ""
	}
	if cap(s.qbuf) > evMaxPooled || cap(s.names) > evMaxPooled || cap(s.hdrs) > evMaxPooled/32 ||
		cap(s.query) > evMaxPooled/16 {
		return
	}
	evPool.Put(s)
}

// ---- headers (EVT-6..EVT-12, DEV-1) ----

// evHeader is one header line kept for the event; names[name0:name1] is its name as written. It holds no pointer
// (the value is found by src): the sort moves lines, and with a string in it each move during a GC cycle went
// through the write barrier, and the scratch's lines had to be cleared before pooling. appendEvent in
// BenchmarkLambdaServe, where GC runs: 21.6k → 19.6k instructions per request (/work/cg.sh, median of three runs
// alternated); without GC (BenchmarkEventEncode/prepared) −30 (callgrind, Dec 2026).
type evHeader struct {
	key          evKey
	name0, name1 int32
	src          int32 // the request's line, or evSrcHost or evSrcTrace
}

// The values of evHeader lines that are no request line.
const (
	evSrcHost  = -1
	evSrcTrace = -2
)

func (h *evHeader) value(lines [][2]string, host, trace string) string {
	switch h.src {
	case evSrcHost:
		return host
	case evSrcTrace:
		return trace
	}
	return lines[h.src][1]
}

// evHeaderOut is where appendHeaders wrote a line in headers ("Name": at out, the value's string from outValue to
// outEnd); out is -1 for a line headers does not hold.
// sameNext says that the next line has the same name: appendHeaders compares the names once, for headers, and
// multiValueHeaders reads the answer (comparing them again was ≈ 0.3k of BenchmarkLambdaServe's ≈ 46k
// instructions per request; callgrind, Dec 2026).
type evHeaderOut struct {
	out, outValue, outEnd int
	sameNext              bool
}

// evValue is an optional header value.
type evValue struct {
	value string
	ok    bool
}

// collectHeaders filters req's headers into s.hdrs, adds Host and X-Amzn-Trace-Id, and sorts them by name as
// written, the lines of one name in arrival order. It returns the host and the last User-Agent and Content-Type
// values.
//
// Each name is written once (evAppendHeaderName) and then recognised by what was written: the canonical case
// makes a case-insensitive comparison an exact one. Comparing the names with case folding for each class (EVT-8,
// Host, the trace header) and sorting by whole-string comparisons cost ≈ 7k instructions for REF-EVENT's twelve
// lines, about a tenth of BenchmarkLambdaServe (callgrind, Dec 2026).
func (s *evScratch) collectHeaders(req *Request, c *Context) (host string, userAgent, contentType evValue) {
	hs, names := s.hdrs[:0], s.names[:0]
	s.hostName0, s.uaName0 = -1, -1
	host = req.Authority
	// The last name cased (not a common one) and kept, where it was written, its class and key.
	var prevName string
	var prev0, prev1 int
	var prevClass evNameClass
	var prevKey evKey
	for i := range req.Headers {
		h := &req.Headers[i] // not a copy of the line (≈ 15 instructions a line, callgrind, Dec 2026)
		name := h[0]
		if name == "" || name[0] == ':' { // pseudo-headers; Host is derived from :authority
			continue
		}
		n0 := len(names)
		var class evNameClass
		var key evKey
		cased := false
		if e := evCommonSlot(&evCommonNames, name); e.lower == name {
			names = append(names, e.written...)
			class, key = e.class, e.key
		} else if name == prevName {
			// The last name cased and kept, again (REF-EVENT's x-correlation-id) is written as it was: casing it
			// was ≈ 0.3k instructions (callgrind, Dec 2026).
			names = append(names, names[prev0:prev1]...)
			class, key = prevClass, prevKey
		} else {
			names = evCaseHeaderName(names, name)
			class, key = evClassOf(evString(names[n0:])), evNameKey(names[n0:])
			cased = true
		}
		value := h[1]
		switch class {
		case evClassDrop:
			names = names[:n0]
			continue
		case evClassAuthorization:
			if evSigV4(value) {
				names = names[:n0]
				continue
			}
		case evClassHost:
			// HTTP/1.1 Host becomes :authority in Envoy; a stray host line yields to it.
			if req.Authority == "" {
				host = value
			}
			names = names[:n0]
			continue
		case evClassTrace:
			if c.TraceID != "" {
				names = names[:n0]
				continue // replaced by the gateway's trace id (EVT-11)
			}
		case evClassUserAgent:
			userAgent = evValue{value, true} // the last line, as the sort keeps one name's lines in order
			s.uaName0 = int32(n0)
		case evClassContentType:
			contentType = evValue{value, true}
		}
		hs = append(hs, evHeader{name0: int32(n0), name1: int32(len(names)), key: key, src: int32(i)})
		if cased { // kept: its written name stays where it is
			prevName, prev0, prev1, prevClass, prevKey = name, n0, len(names), class, key
		}
	}
	if host != "" {
		s.hostName0 = int32(len(names))
		names = append(names, "Host"...)
		hs = append(hs, evHeader{name0: int32(len(names) - 4), name1: int32(len(names)), key: evHostKey, src: evSrcHost})
	}
	if c.TraceID != "" {
		names = append(names, "X-Amzn-Trace-Id"...)
		hs = append(hs, evHeader{name0: int32(len(names) - 15), name1: int32(len(names)), key: evTraceKey, src: evSrcTrace})
	}
	// A stable insertion sort: header lists are short, and the library's stable sort costs more for ten lines.
	// A line is held aside while the greater ones move up one place each (swapping it down, each step wrote both
	// lines: ≈ 0.2k more of BenchmarkLambdaServe's ≈ 48k instructions per request; callgrind, Dec 2026).
	for i := 1; i < len(hs); i++ {
		h := hs[i]
		j := i
		for ; j > 0 && evHeaderLess(names, &h, &hs[j-1]); j-- {
			hs[j] = hs[j-1]
		}
		hs[j] = h
	}
	s.hdrs, s.names = hs, names
	return host, userAgent, contentType
}

// evHeaderLess orders header lines by their names as written, in byte order.
func evHeaderLess(names []byte, a, b *evHeader) bool {
	switch {
	case a.key[0] != b.key[0]:
		return a.key[0] < b.key[0]
	case a.key[1] != b.key[1]:
		return a.key[1] < b.key[1]
	}
	return evString(names[a.name0:a.name1]) < evString(names[b.name0:b.name1])
}

// evSameName reports whether two lines' names as written are equal.
func evSameName(names []byte, a, b *evHeader) bool {
	n := a.name1 - a.name0
	return a.key == b.key && n == b.name1-b.name0 &&
		(n <= 16 || evString(names[a.name0:a.name1]) == evString(names[b.name0:b.name1]))
}

// evKey is evHeader.key: the first sixteen bytes of a name as written, big-endian, zero-padded. A written name holds
// no zero byte, so names compare as their keys do unless the keys are equal, and names of up to 16 bytes with equal
// keys are equal. Eight bytes left REF-EVENT's X-Forwarded-* and repeated names to a string comparison, ≈ 0.3k
// instructions in the sort (BenchmarkEventEncode/prepared, callgrind, Dec 2026).
type evKey [2]uint64

func evNameKey(w []byte) evKey {
	if len(w) <= 8 {
		return evKey{evNameKey8(w)}
	}
	return evKey{evNameKey8(w), evNameKey8(w[8:])}
}

// The keys of the lines collectHeaders adds.
var evHostKey, evTraceKey = evNameKey([]byte("Host")), evNameKey([]byte("X-Amzn-Trace-Id"))

// evNameKey8 is the first eight bytes of w, big-endian, zero-padded.
func evNameKey8(w []byte) uint64 {
	if len(w) >= 8 {
		return binary.BigEndian.Uint64(w)
	}
	var k uint64
	for i := range 8 {
		k <<= 8
		if i < len(w) {
			k |= uint64(w[i])
		}
	}
	return k
}

// evNameClass is what collectHeaders does with a line, by its name as written (evClassOf).
type evNameClass uint8

const (
	evClassKeep          evNameClass = iota
	evClassDrop                      // not the client's, or removed by API Gateway
	evClassAuthorization             // dropped when it is a SigV4 signature (EVT-9)
	evClassHost
	evClassTrace // X-Amzn-Trace-Id
	evClassUserAgent
	evClassContentType
)

// evClassOf classifies a name as the event writes it (evAppendHeaderName). Dropped are the names of EVT-8
// (Connection, Content-Length, Content-MD5, Expect, Max-Forwards, Proxy-Authenticate, Server, TE, Trailer,
// Transfer-Encoding, Upgrade, WWW-Authenticate) and Envoy's own x-envoy-* (EVT-8). Every such name is a token,
// written in canonical case; the prefix test folds case, as a name that is no token is written as it is (escaped
// after the prefix). The common names carry their class (evCommonNames): classifying each line's name was ≈ 0.4k
// instructions for REF-EVENT's ten lines (BenchmarkEventEncode/prepared, callgrind, Dec 2026).
func evClassOf(written string) evNameClass {
	switch written {
	case "Connection", "Content-Length", "Content-Md5", "Expect", "Max-Forwards", "Proxy-Authenticate", "Server",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Www-Authenticate":
		return evClassDrop
	case "Authorization":
		return evClassAuthorization
	case "Host":
		return evClassHost
	case "X-Amzn-Trace-Id":
		return evClassTrace
	case "User-Agent":
		return evClassUserAgent
	case "Content-Type":
		return evClassContentType
	}
	// The third byte first: most names are not Envoy's, and many start with "X-".
	if len(written) >= 8 && written[2]|0x20 == 'e' && evEqualFold(written[:8], "x-envoy-") {
		return evClassDrop
	}
	return evClassKeep
}

// evSigV4 reports an Authorization value that is a SigV4 signature, which the gateway consumes (EVT-9).
func evSigV4(value string) bool {
	return len(value) >= 16 && evEqualFold(value[:16], "AWS4-HMAC-SHA256")
}

// evDropWritten reports, by the name as the event writes it, the lines that are not the client's or that API
// Gateway removes (evClassOf), a SigV4 Authorization among them.
func evDropWritten(written, value string) bool {
	switch evClassOf(written) {
	case evClassDrop:
		return true
	case evClassAuthorization:
		return evSigV4(value)
	}
	return false
}

// evAppendHeaderName appends a header name as the event writes it, inside a JSON string: an RFC 9110 token in
// canonical case (http.CanonicalHeaderKey: upper case at the start and after '-', else lower case; DEV-1),
// anything else as it is, escaped (CanonicalHeaderKey leaves such names alone). Equal written names are one key.
// The name is copied, then cased where it is through two tables (a byte appended at a time was ≈ 290
// instructions per name, callgrind, Dec 2026).
func evAppendHeaderName(dst []byte, name string) []byte {
	if name != "" {
		if e := evCommonSlot(&evCommonNames, name); e.lower == name {
			return append(dst, e.written...)
		}
	}
	return evCaseHeaderName(dst, name)
}

// evCaseHeaderName is evAppendHeaderName without the common names.
func evCaseHeaderName(dst []byte, name string) []byte {
	start := len(dst)
	dst = append(dst, name...)
	w := dst[start:]
	upper := true
	for i, c := range w {
		var o byte
		if upper {
			o = evTokenUpper[c]
		} else {
			o = evTokenLower[c]
		}
		if o == 0 {
			return evAppendStringBody(dst[:start], name)
		}
		w[i] = o
		upper = c == '-'
	}
	return dst
}

// evCommonNames holds request header names most requests carry, as Envoy sends them (lower case), with how the
// event writes them, computed by evCaseHeaderName itself: looking a name up costs less than casing it (REF-EVENT's
// ten names cost ≈ 2.3k instructions to case, a map lookup ≈ 1.9k, this table ≈ 0.6k; callgrind, Dec 2026). A
// name's slot is chosen by its length and last byte; a name whose slot an earlier one took is cased. Read only.
var evCommonNames = func() (t [32][32]evCommonName) {
	for _, n := range []string{"accept", "accept-encoding", "accept-language", "authorization", "cache-control",
		"content-encoding", "content-type", "cookie", "forwarded", "if-match", "if-modified-since", "if-none-match",
		"origin", "pragma", "range", "referer", "user-agent", "via", "x-amz-date", "x-amz-security-token",
		"x-amzn-trace-id", "x-api-key", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-request-id",
		"x-requested-with", "traceparent", "tracestate", "content-length", "connection", "te", "upgrade"} {
		if slot := evCommonSlot(&t, n); slot.lower == "" {
			w := string(evCaseHeaderName(nil, n))
			*slot = evCommonName{lower: n, written: w, class: evClassOf(w), key: evNameKey([]byte(w))}
		}
	}
	return t
}()

type evCommonName struct {
	lower, written string
	class          evNameClass
	key            evKey // evHeader.key of written (computing it per line was ≈ 20 instructions a name)
}

func evCommonSlot(t *[32][32]evCommonName, name string) *evCommonName {
	return &t[len(name)&31][name[len(name)-1]&31]
}

// evTokenUpper and evTokenLower map the bytes of a token (tokenByte) to their upper and lower case, and every other
// byte to 0.
var evTokenUpper, evTokenLower = func() (up, low [256]byte) {
	for c := range 256 {
		if !tokenByte[c] {
			continue
		}
		up[c], low[c] = byte(c), byte(c)
		switch {
		case 'a' <= c && c <= 'z':
			up[c] = byte(c) - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			low[c] = byte(c) - 'A' + 'a'
		}
	}
	return up, low
}()

// appendHeaders writes headers and multiValueHeaders from s.hdrs, the values read from the request's lines, its
// host and the trace id.
func (s *evScratch) appendHeaders(dst []byte, lines [][2]string, host, trace string) []byte {
	hs, names := s.hdrs, s.names
	s.outs = slices.Grow(s.outs[:0], len(hs))[:len(hs)]
	outs := s.outs
	s.hostEnd, s.uaEnd = 0, 0
	if len(hs) == 0 {
		return append(dst, `,"headers":null,"multiValueHeaders":null`...)
	}
	same := func(i, j int) bool {
		return evSameName(names, &hs[i], &hs[j])
	}
	// headers: the last line of each name (EVT-6). Where each such line went in dst is kept, and multiValueHeaders
	// copies it rather than escaping the value again (≈ 0.7k instructions for REF-EVENT, callgrind, Dec 2026).
	dst = append(dst, `,"headers":{`...)
	first := true
	for i := range hs {
		h, o := &hs[i], &outs[i]
		o.out = -1
		o.sameNext = i+1 < len(hs) && same(i, i+1)
		if o.sameNext {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		o.out = len(dst)
		dst = append(dst, '"')
		dst = append(dst, names[h.name0:h.name1]...)
		dst = append(dst, '"', ':')
		o.outValue = len(dst)
		dst = evAppendString(dst, h.value(lines, host, trace))
		o.outEnd = len(dst)
		switch h.name0 {
		case s.hostName0:
			s.host0, s.hostEnd = o.outValue, o.outEnd
		case s.uaName0:
			s.ua0, s.uaEnd = o.outValue, o.outEnd
		}
	}
	dst = append(dst, `},"multiValueHeaders":{`...)
	for i := range hs {
		h, o := &hs[i], &outs[i]
		switch {
		case i == 0:
		case outs[i-1].sameNext:
			dst = append(dst, ',')
			if o.out >= 0 {
				dst = append(dst, dst[o.outValue:o.outEnd]...)
			} else {
				dst = evAppendString(dst, h.value(lines, host, trace))
			}
			continue
		default:
			dst = append(dst, ']', ',')
		}
		if o.out >= 0 { // the name's only line: "Name": and the value as in headers
			dst = append(dst, dst[o.out:o.outValue]...)
			dst = append(dst, '[')
			dst = append(dst, dst[o.outValue:o.outEnd]...)
			continue
		}
		dst = append(dst, '"')
		dst = append(dst, names[h.name0:h.name1]...)
		dst = append(dst, '"', ':', '[')
		dst = evAppendString(dst, h.value(lines, host, trace))
	}
	return append(dst, "]}"...)
}

// tokenByte marks the bytes of an RFC 9110 token (tchar); header names in events and function output use it.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// evEqualFold is ASCII-only case-insensitive equality.
func evEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ---- query string (EVT-13..EVT-16) ----

// evQueryParam is one decoded name=value; the offsets index evScratch.qbuf.
type evQueryParam struct{ name0, name1, value0, value1 int }

// parseQuery splits the raw query on '&' and ';', decodes each name and value as
// application/x-www-form-urlencoded (invalid escapes kept literally, invalid UTF-8 replaced by U+FFFD so that
// names compare as they are written) and sorts the parameters by name, keeping the order of one name's values.
// Empty parameters and parameters without a name are skipped.
func (s *evScratch) parseQuery(q string) {
	s.query, s.qbuf = s.query[:0], s.qbuf[:0]
	// One pass over each piece finds its end ('&' or ';'), its first '=' and whether its name and value need
	// decoding (evQueryClass); a search for the end, strings.Cut and evFormDecode's own plainness pass were ≈ 0.6k
	// of BenchmarkLambdaServe's ≈ 48k instructions per request for REF-EVENT's 48-byte query (callgrind, Dec 2026).
	for q != "" {
		eq, i := -1, 0
		var nameClass, valueClass byte
		for ; i < len(q); i++ {
			k := evQueryClass[q[i]]
			if k == 0 {
				continue
			}
			if k == evQuerySep {
				break
			}
			if k == evQueryEq && eq < 0 {
				eq = i
				continue
			}
			if eq < 0 {
				nameClass |= k
			} else {
				valueClass |= k
			}
		}
		piece := q[:i]
		if i < len(q) {
			q = q[i+1:]
		} else {
			q = ""
		}
		name, value := piece, ""
		if eq >= 0 {
			name, value = piece[:eq], piece[eq+1:]
		}
		if name == "" {
			continue
		}
		var p evQueryParam
		p.name0 = len(s.qbuf)
		s.qbuf = evFormDecodeClass(s.qbuf, name, nameClass)
		p.name1 = len(s.qbuf)
		s.qbuf = evFormDecodeClass(s.qbuf, value, valueClass)
		p.value0, p.value1 = p.name1, len(s.qbuf)
		s.query = append(s.query, p)
	}
	qs, buf := s.query, s.qbuf
	for i := 1; i < len(qs); i++ {
		p := qs[i]
		j := i
		for ; j > 0 && evCompareBytes(buf[qs[j-1].name0:qs[j-1].name1], buf[p.name0:p.name1]) > 0; j-- {
			qs[j] = qs[j-1]
		}
		qs[j] = p
	}
}

// The classes of a query's bytes for parseQuery: evQueryDecode for a byte evFormDecode changes or checks ('+',
// '%', non-ASCII), evQueryEq for '=', evQuerySep for '&' and ';', 0 for the others.
const (
	evQueryDecode = 1
	evQueryEq     = 2
	evQuerySep    = 4
)

var evQueryClass = func() (t [256]byte) {
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = evQueryDecode
	}
	t['+'], t['%'], t['='], t['&'], t[';'] = evQueryDecode, evQueryDecode, evQueryEq, evQuerySep, evQuerySep
	return t
}()

// evFormDecodeClass is evFormDecode(dst, s), with s copied as it is when parseQuery found nothing to decode in it.
func evFormDecodeClass(dst []byte, s string, class byte) []byte {
	if class&evQueryDecode == 0 {
		return append(dst, s...)
	}
	return evFormDecode(dst, s)
}

func evCompareBytes(a, b []byte) int { return strings.Compare(evString(a), evString(b)) }

// evString views b as a string without copying; the result must not outlive b's next change.
func evString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// evFormDecode appends s form-decoded: '+' is a space, %XX a byte, a '%' not followed by two hex digits stays.
// Invalid UTF-8 in the result is replaced by U+FFFD.
func evFormDecode(dst []byte, s string) []byte {
	plain := true // most names and values: nothing to decode, ASCII
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c != '+' && c != '%' && c < utf8.RuneSelf
	}
	if plain {
		return append(dst, s...)
	}
	start := len(dst)
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s) && evUnhex(s[i+1]) >= 0 && evUnhex(s[i+2]) >= 0:
			c = byte(evUnhex(s[i+1])<<4 | evUnhex(s[i+2]))
			i += 2
		}
		ascii = ascii && c < utf8.RuneSelf
		dst = append(dst, c)
	}
	if ascii || utf8.Valid(dst[start:]) {
		return dst
	}
	// Rewrite the decoded bytes with U+FFFD for each invalid byte: append the fixed copy, then move it down.
	end := len(dst)
	for i := start; i < end; {
		r, n := utf8.DecodeRune(dst[i:end])
		if r == utf8.RuneError && n == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, dst[i:i+n]...)
		}
		i += n
	}
	n := copy(dst[start:], dst[end:])
	return dst[:start+n]
}

func evUnhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// evQueryOut is where appendQuery wrote a name's key and its last value in queryStringParameters ("name": from
// key0 to key1 in the name's first parameter, the value's string from value0 to value1 in its last); sameNext says
// that the next parameter has the same name.
type evQueryOut struct {
	key0, key1, value0, value1 int
	sameNext                   bool
}

// appendQuery writes queryStringParameters and multiValueQueryStringParameters. The second copies the keys and last
// values the first wrote, and reads the name comparisons it made: escaping them again and comparing the names twice
// was ≈ 0.55k of AppendPreparedEvent's ≈ 20.4k instructions for REF-EVENT's query (BenchmarkEventEncode/prepared,
// callgrind, Dec 2026).
func (s *evScratch) appendQuery(dst []byte) []byte {
	qs, buf := s.query, s.qbuf
	if len(qs) == 0 {
		return append(dst, `,"queryStringParameters":null,"multiValueQueryStringParameters":null`...)
	}
	s.qouts = slices.Grow(s.qouts[:0], len(qs))[:len(qs)]
	outs := s.qouts
	// queryStringParameters: the last value of each name (EVT-14).
	dst = append(dst, `,"queryStringParameters":{`...)
	first := 0 // the name's first parameter
	for i := range qs {
		p, o := &qs[i], &outs[i]
		o.sameNext = i+1 < len(qs) && evString(buf[p.name0:p.name1]) == evString(buf[qs[i+1].name0:qs[i+1].name1])
		if o.sameNext {
			continue
		}
		if first > 0 {
			dst = append(dst, ',')
		}
		f := &outs[first]
		f.key0 = len(dst)
		dst = evAppendBytesString(dst, buf[p.name0:p.name1])
		dst = append(dst, ':')
		f.key1, o.value0 = len(dst), len(dst)
		dst = evAppendBytesString(dst, buf[p.value0:p.value1])
		o.value1 = len(dst)
		first = i + 1
	}
	dst = append(dst, `},"multiValueQueryStringParameters":{`...)
	for i := range qs {
		o := &outs[i]
		switch {
		case i == 0:
		case outs[i-1].sameNext:
			dst = append(dst, ',')
		default:
			dst = append(dst, ']', ',')
		}
		if i == 0 || !outs[i-1].sameNext {
			dst = append(dst, dst[o.key0:o.key1]...)
			dst = append(dst, '[')
		}
		if o.sameNext {
			dst = evAppendBytesString(dst, buf[qs[i].value0:qs[i].value1])
		} else {
			dst = append(dst, dst[o.value0:o.value1]...)
		}
	}
	return append(dst, "]}"...)
}

// ---- binary media types (BIN-1) ----

// ---- small pieces ----

// evDomainPrefix is the host up to its first '.', without a port.
func evDomainPrefix(host string) string {
	if strings.HasPrefix(host, "[") { // IPv6 literal
		if i := strings.IndexByte(host, ']'); i >= 0 {
			return host[:i+1]
		}
		return host
	}
	// Up to the first '.' or ':' (the port), in one pass: a search for each, then the cut, was ≈ 0.1k instructions
	// for REF-EVENT's host (callgrind, Dec 2026).
	for i := 0; i < len(host); i++ {
		if c := host[i]; c == '.' || c == ':' {
			return host[:i]
		}
	}
	return host
}

// appendTime writes requestTime's value (t in Common Log Format), the key of requestTimeEpoch and its value (t in
// milliseconds). All but the milliseconds are kept per second in the scratch, which a request finds filled when the
// scratch's previous request came in the same second (the benchmarks' fixed time always does): formatting the
// date and the 13-digit number on every request was ≈ 0.6k instructions (BenchmarkEventEncode/prepared,
// callgrind, Dec 2026).
func (s *evScratch) appendTime(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec <= 0 { // the milliseconds are not three more digits of the seconds
		dst = evAppendCLF(dst, t.UTC())
		dst = append(dst, `","requestTimeEpoch":`...)
		return strconv.AppendInt(dst, t.UnixMilli(), 10)
	}
	if sec != s.timeSec || len(s.timeText) == 0 {
		s.timeText = evAppendCLF(s.timeText[:0], t.UTC())
		s.timeText = append(s.timeText, `","requestTimeEpoch":`...)
		s.timeText = strconv.AppendInt(s.timeText, sec, 10)
		s.timeSec = sec
	}
	dst = append(dst, s.timeText...)
	ms := t.Nanosecond() / 1e6
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// evAppendCLF writes t (UTC) in Common Log Format, "02/Jan/2006:15:04:05 +0000".
func evAppendCLF(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "02/Jan/2006:15:04:05 +0000")
	}
	hour, minute, second := t.Clock()
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	m := 3 * (int(month) - 1)
	return append(dst, byte('0'+day/10), byte('0'+day%10), '/', months[m], months[m+1], months[m+2], '/',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), ':',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10), ' ', '+', '0', '0', '0', '0')
}

// evAppendKey writes the separator ('{' for the first key, else ',') and "key":.
func evAppendKey(dst []byte, i int, key string) []byte {
	if i == 0 {
		dst = append(dst, '{')
	} else {
		dst = append(dst, ',')
	}
	dst = evAppendString(dst, key)
	return append(dst, ':')
}

func evAppendBytesString(dst []byte, b []byte) []byte { return evAppendString(dst, evString(b)) }

func evAppendStringOrNull(dst []byte, s string, ok bool) []byte {
	if !ok {
		return append(dst, "null"...)
	}
	return evAppendString(dst, s)
}

// evAppendString writes s as a JSON string.
func evAppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = evAppendStringBody(dst, s)
	return append(dst, '"')
}

// evAppendStringBody writes s as the inside of a JSON string: '"', '\' and control characters escaped, everything
// else literal (no HTML escaping, §10 trap 3), each invalid UTF-8 byte as U+FFFD.
//
// Most strings of an event (ids, names, most values) need no escape: they are found plain eight bytes at a time
// (evFirstSpecial) and appended in one copy. It is called ≈ 55 times per REF-EVENT; the loop that went on byte by
// byte for the last < 8 bytes of each string and restarted after each escape was 12.2k of BenchmarkLambdaServe's
// 68k instructions per request (callgrind, Dec 2026).
func evAppendStringBody(dst []byte, s string) []byte {
	i := evFirstSpecial(s, 0)
	if i == len(s) {
		return append(dst, s...)
	}
	// A string with escapes, often many (a JSON body escapes every quote): from the first, plain bytes are copied a
	// word at a time — the whole word appended, then cut back to the bytes before its first special byte — rather
	// than found and then copied, which cost a search and a copy call per escape (≈ 100 instructions; REF-EVENT's
	// body has 40 escapes; callgrind, Dec 2026).
	dst = append(dst, s[:i]...)
	for i < len(s) {
		if i+8 <= len(s) {
			w := evLoad8(s, i)
			m := evSpecialMask(w)
			d := len(dst)
			dst = binary.LittleEndian.AppendUint64(dst, w)
			if m == 0 {
				i += 8
				continue
			}
			k := bits.TrailingZeros64(m) >> 3
			dst = dst[:d+k]
			i += k
		}
		c := s[i]
		// The two-byte escapes (a JSON body's quotes, nearly all of them) from a table, inline: the call and
		// switch of evAppendEscape per escape were ≈ 1k of BenchmarkLambdaServe's ≈ 50k instructions (REF-EVENT's
		// body: 40 quotes; callgrind, Dec 2026).
		if e := evShortEscape[c]; e != 0 {
			dst = append(dst, '\\', e)
			i++
			continue
		}
		switch {
		case evPlainByte[c]:
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = evAppendEscape(dst, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

// evAppendEscape appends the escape of an ASCII byte that is not written as it is.
func evAppendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', evHex[c>>4], evHex[c&0xf])
}

// evFirstSpecial is the index of the first byte of s at or after i that is not written as it is (evSpecialMask),
// len(s) when there is none. Strings of eight bytes or more are read a word at a time, their last bytes as the
// word ending the string, with the bytes before i in that word replaced by a plain one: a special byte there (one
// just escaped) would otherwise flag the byte above it.
func evFirstSpecial(s string, i int) int {
	const plain = 0x6161616161616161 // "aaaaaaaa"
	n := len(s)
	if n < 8 {
		if i == 0 && n >= 4 {
			// The string tested as one word read by two overlapping 4-byte loads: byte by byte cost ≈ 8
			// instructions a byte, most of the short strings' cost (−0.14k for REF-EVENT; callgrind, Dec 2026).
			// Below four bytes, a word of the first, middle and last byte saved nothing. The loop below finds
			// the special byte.
			lo := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
			t := s[n-4:]
			hi := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24
			if evSpecialMask(lo|hi<<32) == 0 {
				return n
			}
		}
		for ; i < n; i++ {
			if !evPlainByte[s[i]] {
				return i
			}
		}
		return n
	}
	for ; i+8 <= n; i += 8 {
		if m := evSpecialMask(evLoad8(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i == n {
		return n
	}
	seen := uint64(1)<<(8*uint(8-(n-i))) - 1 // the bytes of the last word before i
	if m := evSpecialMask(evLoad8(s, n-8)&^seen | plain&seen); m != 0 {
		return n - 8 + bits.TrailingZeros64(m)>>3
	}
	return n
}

// evLoad8 reads s[i:i+8] as a little-endian word (the compiler merges the loads).
func evLoad8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// evSpecialMask has the high bit set of each byte of x that is not written as it is (a control character, '"',
// '\' or a non-ASCII byte), and maybe of some bytes above the first such byte: a borrow runs only upwards, so the
// lowest bit set is exact (the first special byte, in little-endian order), and the mask is zero exactly when no
// byte is special.
func evSpecialMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	control := (x - ones*0x20) &^ x             // a byte below 0x20
	quote = (quote - ones) &^ quote             // a '"' byte
	backslash = (backslash - ones) &^ backslash // a '\' byte
	return (control | quote | backslash | x) & highs
}

const evHex = "0123456789abcdef"

// evShortEscape is the second byte of a byte's two-byte escape (evAppendEscape), 0 for the others.
var evShortEscape = func() (t [256]byte) {
	for _, c := range []byte{'"', '\\'} {
		t[c] = c
	}
	t['\n'], t['\r'], t['\t'], t['\b'], t['\f'] = 'n', 'r', 't', 'b', 'f'
	return t
}()

// evPlainByte marks the bytes written as they are.
var evPlainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
