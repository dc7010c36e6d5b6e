package loader

import (
	"maps"
	"slices"
	"strings"

	"github.com/proxyplus/proxyplus/mappingtemplate"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// validateTemplates reports the mapping templates of a MOCK integration the interpreter cannot run: a syntax
// error or an unsupported construct, each with the template's location and the line:column inside it (issue 12
// scope 2). Such a method answers API Gateway's 500 whenever a request reaches the construct, so nothing is
// mis-rendered silently. Proxy integrations do not apply templates (stored for export only).
func validateTemplates(r *reporter, in *apigatewayv1.Integration, c integrationContext) {
	if in.Type != "MOCK" {
		return
	}
	check := func(loc, field, what, src string) {
		for _, is := range mappingtemplate.Check(what, src) {
			r.warnf(loc, field, "MOCK-2", "%s of %s: %s at line %d column %d: %s; proxyplus answers 500 {\"message\": "+
				"\"Internal server error\"} to every request that reaches it", what, c.method, is.Construct, is.Pos.Line, is.Pos.Col, is.Message)
		}
	}
	for _, mt := range slices.Sorted(maps.Keys(in.RequestTemplates)) {
		check(child(c.at("requestTemplates"), mt), "requestTemplates", "request template "+mt, in.RequestTemplates[mt])
	}
	for _, code := range slices.Sorted(maps.Keys(in.IntegrationResponses)) {
		ir := in.IntegrationResponses[code]
		// OpenAPI keys integration responses by selection pattern ("default" for none), the model by status.
		loc := child(child(c.at("integrationResponses"), code), "responseTemplates")
		if strings.HasSuffix(c.loc, extIntegration) {
			pattern := ir.GetSelectionPattern()
			if pattern == "" {
				pattern = "default"
			}
			loc = child(child(c.at("responses"), pattern), "responseTemplates")
		}
		for _, mt := range slices.Sorted(maps.Keys(ir.GetResponseTemplates())) {
			check(child(loc, mt), "responseTemplates", "response template "+mt+" of integration response "+code, ir.GetResponseTemplates()[mt])
		}
	}
}
