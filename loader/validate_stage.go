package loader

import (
	"maps"
	"regexp"
	"slices"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

const (
	maxStages            = 10  // LIM-7
	maxStageVariables    = 100 // LIM-8
	maxStageVariableKey  = 64  // LIM-8
	maxStageVariableText = 512 // LIM-8
)

var (
	stageNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`) // RES-10
	// LIM-8, as API Gateway's CreateStage documents them: names of alphanumerics and underscores, values matching
	// [A-Za-z0-9-._~:/?#&=,]+.
	stageVarKeyRe   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	stageVarValueRe = regexp.MustCompile(`^[A-Za-z0-9\-._~:/?#&=,]+$`)
)

// validateStages applies RES-10, LIM-7 and LIM-8. Stages come from proxyplus's format ($.stages) or from the
// x-proxyplus-stages extension of proxyplus's exports (OpenAPI host and basePath never create stages, OAS-6).
func validateStages(r *reporter, api *apigatewayv1.RestApi, at string) {
	if len(api.Stages) > maxStages {
		r.warnf(at, "stages", "LIM-7", "the API has %d stages; API Gateway's default quota is %d per API (raisable)",
			len(api.Stages), maxStages)
	}
	names := map[string]bool{}
	for i, st := range api.Stages {
		loc := index(at, i)
		if st == nil {
			r.errorf(loc, "stages", "model", "stage %d is null", i)
			continue
		}
		if !stageNameRe.MatchString(st.StageName) {
			r.errorf(child(loc, "stageName"), "stageName", "RES-10", "stage name %q must be 1 to 128 letters, digits, - and _",
				st.StageName)
		} else if names[st.StageName] {
			r.errorf(child(loc, "stageName"), "stageName", "RES-10", "stage %q is declared twice", st.StageName)
		}
		names[st.StageName] = true
		if len(st.Variables) > maxStageVariables {
			r.errorf(child(loc, "variables"), "variables", "LIM-8", "stage %q has %d variables; API Gateway allows %d per stage",
				st.StageName, len(st.Variables), maxStageVariables)
		}
		for _, k := range slices.Sorted(maps.Keys(st.Variables)) {
			v := st.Variables[k]
			vloc := child(child(loc, "variables"), k)
			if len(k) > maxStageVariableKey || !stageVarKeyRe.MatchString(k) {
				r.errorf(vloc, "variables", "LIM-8", "stage variable name %q of stage %q must be 1 to %d letters, digits and _",
					k, st.StageName, maxStageVariableKey)
			}
			if len(v) > maxStageVariableText {
				r.errorf(vloc, "variables", "LIM-8", "stage variable %q of stage %q is %d characters long; API Gateway allows %d",
					k, st.StageName, len(v), maxStageVariableText)
			} else if !stageVarValueRe.MatchString(v) {
				r.errorf(vloc, "variables", "LIM-8", "stage variable %q of stage %q has the value %q; values must be non-empty "+
					"and contain only letters, digits and - . _ ~ : / ? # & = ,", k, st.StageName, v)
			}
		}
	}
}
