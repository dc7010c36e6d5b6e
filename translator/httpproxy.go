package translator

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// translateHTTPProxy resolves an HTTP_PROXY integration for one stage (apigateway-rest §7) and decides whether
// Envoy route configuration can express it (envoy-notes RTM-12).
func translateHTTPProxy(in *apigatewayv1.Integration, res *apigatewayv1.Resource, method string, vars map[string]string, timeout time.Duration) (*ir.HTTPIntegration, diag.List) {
	var diags diag.List
	errorf := func(field, rule, format string, args ...any) {
		diags = append(diags, diag.Diagnostic{Severity: diag.Error, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	raw, err := substituteStageVariables(in.GetUri(), vars)
	if err != nil {
		errorf("uri", "HTP-2", "%v", err)
		return nil, diags
	}
	origin, pathAndQuery := splitURI(raw)
	u, err := url.Parse(origin)
	if err != nil {
		errorf("uri", "HTP-1", "uri %q is not an absolute http(s) URL: %v", raw, err)
		return nil, diags
	}
	backend, err := backendOf(u, in.GetTlsConfig().GetInsecureSkipVerification())
	if err != nil {
		errorf("uri", "RES-15", "uri %q: %v", raw, err)
		return nil, diags
	}
	rawPath, rawQuery, _ := strings.Cut(pathAndQuery, "?")
	if rawPath == "" {
		rawPath = "/"
	}
	h := &ir.HTTPIntegration{
		Backend:      backend,
		Path:         splitPlaceholders(rawPath),
		Placeholders: map[string]ir.ValueSource{},
		Timeout:      ir.Duration(timeout),
	}
	if m := strings.ToUpper(in.GetHttpMethod()); m != "ANY" && m != "" {
		h.Method = m
	}
	if rawQuery != "" {
		for _, kv := range strings.Split(rawQuery, "&") {
			if kv == "" {
				continue
			}
			name, value, _ := strings.Cut(kv, "=")
			h.Query = append(h.Query, ir.QueryPart{Name: name, Value: splitPlaceholders(value)})
		}
	}

	resParams := map[string]bool{}
	if segs, err := ParseResourcePath(res.GetPath()); err == nil {
		for _, s := range segs {
			if s.Kind != ir.Literal {
				resParams[s.Text] = true
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(in.GetRequestParameters())) {
		src, ok, warn := parseSource(in.GetRequestParameters()[key], vars)
		if warn != "" {
			diags = append(diags, diag.Diagnostic{Severity: diag.Warning, Field: "requestParameters." + key, Rule: "HTP-3", Message: warn})
		}
		if !ok {
			continue
		}
		if src.Kind == ir.FromPath && !resParams[src.Name] {
			errorf("requestParameters."+key, "HTP-3", "source %q names no path parameter of resource %s", in.GetRequestParameters()[key], res.GetPath())
			continue
		}
		switch {
		case strings.HasPrefix(key, "integration.request.path."):
			h.Placeholders[strings.TrimPrefix(key, "integration.request.path.")] = src
		case strings.HasPrefix(key, "integration.request.querystring."):
			h.QueryMappings = append(h.QueryMappings, ir.Mapping{Name: strings.TrimPrefix(key, "integration.request.querystring."), Source: src})
		case strings.HasPrefix(key, "integration.request.header."):
			h.HeaderMappings = append(h.HeaderMappings, ir.Mapping{Name: strings.TrimPrefix(key, "integration.request.header."), Source: src})
		default:
			errorf("requestParameters."+key, "HTP-3", "mapping target %q is not integration.request.{path|querystring|header}.<name>", key)
		}
	}
	// HTP-1: every placeholder needs an integration.request.path mapping.
	for _, name := range placeholderNames(h) {
		if _, ok := h.Placeholders[name]; !ok {
			errorf("uri", "HTP-1", "uri placeholder {%s} has no integration.request.path.%s mapping", name, name)
		}
	}
	if len(h.Placeholders) == 0 {
		h.Placeholders = nil
	}
	decideProcessor(h, method)
	return h, diags
}

// decideProcessor marks integrations that route configuration cannot express (envoy-notes RTM-12).
func decideProcessor(h *ir.HTTPIntegration, method string) {
	var reasons []string
	// Route configuration cannot change :method; a route whose method already is the fixed one needs no rewrite.
	if h.Method != "" && h.Method != method {
		reasons = append(reasons, fmt.Sprintf("fixed integration method %s (Envoy routes cannot change the method)", h.Method))
	}
	if len(h.Query) > 0 {
		reasons = append(reasons, "the uri has its own query string, which goes ahead of the client's (HTP-6)")
	}
	if len(h.QueryMappings) > 0 {
		reasons = append(reasons, "integration.request.querystring mappings (HTP-6)")
	}
	for _, name := range slices.Sorted(maps.Keys(h.Placeholders)) {
		if k := h.Placeholders[name].Kind; k != ir.FromPath && k != ir.FromStatic {
			reasons = append(reasons, fmt.Sprintf("path placeholder {%s} fed from %s", name, k))
		}
	}
	for _, m := range h.HeaderMappings {
		if m.Source.Kind != ir.FromHeader && m.Source.Kind != ir.FromStatic {
			reasons = append(reasons, fmt.Sprintf("header %s fed from %s", m.Name, m.Source.Kind))
		}
	}
	h.Processor = len(reasons) > 0
	h.ProcessorReasons = reasons
}

// parseSource reads the right-hand side of a mapping (HTP-3). ok is false when the mapping adds nothing.
func parseSource(v string, vars map[string]string) (src ir.ValueSource, ok bool, warn string) {
	if len(v) >= 2 && strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") {
		return ir.ValueSource{Kind: ir.FromStatic, Name: v[1 : len(v)-1]}, true, ""
	}
	v = strings.TrimPrefix(v, "$")
	if name, found := strings.CutPrefix(v, "stageVariables."); found {
		val, defined := vars[name]
		if !defined {
			return src, false, fmt.Sprintf("stage variable %q is not defined on this stage; the mapping adds nothing", name)
		}
		return ir.ValueSource{Kind: ir.FromStatic, Name: val}, true, ""
	}
	if name, found := strings.CutPrefix(v, "context."); found {
		return ir.ValueSource{Kind: ir.FromContext, Name: name}, true, ""
	}
	if v == "method.request.body" || strings.HasPrefix(v, "method.request.body.") {
		return src, false, fmt.Sprintf("body source %q is not supported; the mapping is ignored", v)
	}
	for _, k := range []ir.SourceKind{ir.FromPath, ir.FromQuery, ir.FromMultiQuery, ir.FromHeader, ir.FromMultiHeader} {
		if name, found := strings.CutPrefix(v, "method.request."+string(k)+"."); found && name != "" {
			return ir.ValueSource{Kind: k, Name: name}, true, ""
		}
	}
	return src, false, fmt.Sprintf("mapping source %q is not recognised; the mapping is ignored", v)
}

// splitURI separates "scheme://host:port" from the rest, without letting url.Parse re-encode the {placeholders}.
func splitURI(raw string) (origin, pathAndQuery string) {
	raw, _, _ = strings.Cut(raw, "#")
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw, ""
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		return raw[:i+3+j], rest[j:]
	}
	return raw, ""
}

// splitPlaceholders splits "a/{x}/b" into literal text and {name} placeholders.
func splitPlaceholders(s string) []ir.PathPart {
	var parts []ir.PathPart
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			parts = append(parts, ir.PathPart{Literal: s})
			break
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			parts = append(parts, ir.PathPart{Literal: s})
			break
		}
		if open > 0 {
			parts = append(parts, ir.PathPart{Literal: s[:open]})
		}
		parts = append(parts, ir.PathPart{Placeholder: s[open+1 : open+end]})
		s = s[open+end+1:]
	}
	return parts
}

func placeholderNames(h *ir.HTTPIntegration) []string {
	seen := map[string]bool{}
	var names []string
	add := func(parts []ir.PathPart) {
		for _, p := range parts {
			if p.Placeholder != "" && !seen[p.Placeholder] {
				seen[p.Placeholder] = true
				names = append(names, p.Placeholder)
			}
		}
	}
	add(h.Path)
	for _, q := range h.Query {
		add(q.Value)
	}
	return names
}
