// Package translator turns API definitions deployed to stages into proxyplus's proto-free IR, applying API
// Gateway's routing semantics (apigateway-rest §2) and integration rules (§7). It knows nothing about Envoy.
package translator

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"google.golang.org/protobuf/proto"
)

// DefaultIntegrationTimeout is API Gateway's default and maximum integration timeout (RES-14).
const DefaultIntegrationTimeout = 29 * time.Second

// Input is one API and the stages to serve it on.
type Input struct {
	// File names the definition in diagnostics.
	File string
	// API is a definition as the loader returns it: normalised and validated.
	API *apigatewayv1.RestApi
	// Stages to serve; when empty, the stages declared in the API.
	Stages []*apigatewayv1.Stage
	// StageAPIs, when set, give the definition a stage serves by stage name, for stages pointing at different
	// deployments of one API (API Gateway lets each stage run its own deployment). Stages not listed serve API,
	// which also provides the API-wide settings (name, binary media types, hosts).
	StageAPIs map[string]*apigatewayv1.RestApi
}

// Options are listener-level settings.
type Options struct {
	ListenerAddress string
	ListenerPort    uint32
	// ExtProcAddress is where Envoy reaches the ext_proc service (host:port or unix:/path).
	ExtProcAddress string
	// ExtraHosts are listed among the hosts of the API when only one API is configured (e.g. "localhost"). Envoy
	// then serves that API on every Host anyway (xds/builder virtualHost); the list matters to readers of the IR.
	ExtraHosts []string
	// RouteKeys sign the route data sent to the ext_proc service (ir.EncodeProcessorRoute); none: unsigned,
	// which a processor refuses.
	RouteKeys ir.RouteKeys
	// ExtProcTLS, when set, makes Envoy reach the ext_proc service over TLS.
	ExtProcTLS *ir.ExtProcTLS
	// AccessLog is where Envoy writes access logs; nil is stdout.
	AccessLog *ir.AccessLogSink
	// Tracing is Envoy's X-Ray export; nil samples nothing.
	Tracing *ir.TracingSettings
}

// Translate builds one configuration generation. APIs with errors are left out and reported, so one bad API
// does not stop the others (envoy-notes STY-6 item 5); callers decide whether any error blocks publishing.
func Translate(inputs []Input, opts Options) (*ir.Config, diag.List) {
	var diags diag.List
	var apis []ir.API
	seen := map[string]string{}
	for _, in := range inputs {
		api, ds := TranslateAPI(in)
		diags = append(diags, ds...)
		if ds.Err() != nil {
			continue
		}
		if prev, dup := seen[api.ID]; dup {
			diags = append(diags, diag.Diagnostic{Severity: diag.Error, File: in.File, Field: "id",
				Message: fmt.Sprintf("API id %q is also used by %s; ids must be unique", api.ID, prev)})
			continue
		}
		seen[api.ID] = in.File
		apis = append(apis, api)
	}
	return Assemble(apis, opts), diags
}

// Assemble builds the configuration generation serving apis: each translated by TranslateAPI without errors,
// with unique ids. The APIs are not modified (the control plane keeps the last good ones across generations).
func Assemble(apis []ir.API, opts Options) *ir.Config {
	cfg := &ir.Config{
		Listener: ir.Listener{Name: "proxyplus-http", Address: opts.ListenerAddress, Port: opts.ListenerPort},
		ExtProc: ir.ExtProcService{
			ClusterName:    "proxyplus-extproc",
			Address:        opts.ExtProcAddress,
			MessageTimeout: ir.Duration(DefaultIntegrationTimeout + time.Second),
			RouteKeys:      opts.RouteKeys,
			TLS:            opts.ExtProcTLS,
		},
		APIs:      slices.Clone(apis),
		AccessLog: opts.AccessLog,
		Tracing:   opts.Tracing,
	}
	if cfg.Listener.Address == "" {
		cfg.Listener.Address = "0.0.0.0"
	}
	if cfg.Listener.Port == 0 {
		cfg.Listener.Port = 8080
	}
	if cfg.ExtProc.Address == "" {
		cfg.ExtProc.Address = "127.0.0.1:18001"
	}
	sort.Slice(cfg.APIs, func(i, j int) bool { return cfg.APIs[i].ID < cfg.APIs[j].ID })
	if len(cfg.APIs) == 1 {
		cfg.APIs[0].Hosts = appendUnique(slices.Clone(cfg.APIs[0].Hosts), opts.ExtraHosts...)
	}
	// Envoy must wait for the longest integration before timing out a processor message (envoy-notes EXT-11).
	for _, api := range cfg.APIs {
		for _, st := range api.Stages {
			for i := range st.Routes { // by index: a route is a large struct
				if t := st.Routes[i].Integration.Timeout() + time.Second; t > time.Duration(cfg.ExtProc.MessageTimeout) {
					cfg.ExtProc.MessageTimeout = ir.Duration(t)
				}
			}
		}
	}
	return cfg
}

// TranslateAPI translates one API on its stages. Error diagnostics mean the API cannot be served; the
// control plane translates each API on its own so that one broken API holds back only itself.
func TranslateAPI(in Input) (ir.API, diag.List) {
	return translateAPI(in, nil)
}

// translateAPI is TranslateAPI; memo, when not nil, translates each resource through its cache (cache.go).
func translateAPI(in Input, memo *resourceMemo) (ir.API, diag.List) {
	def := in.API
	api := ir.API{
		ID:                           def.GetId(),
		Name:                         def.GetName(),
		BinaryMediaTypes:             append([]string(nil), def.GetBinaryMediaTypes()...),
		ServeUnauthenticatedInsecure: def.GetServeUnauthenticatedInsecure(),
	}
	// Every API answers on its execute-api style host in any region and domain (RTE-1).
	api.Hosts = appendUnique([]string{api.ID + ".execute-api.*"}, def.GetHosts()...)
	var diags diag.List
	if api.ID == "" {
		return api, diag.List{{Severity: diag.Error, File: in.File, Field: "id", Message: "API has no id"}}
	}
	stages := in.Stages
	if len(stages) == 0 {
		stages = def.GetStages()
	} else if in.StageAPIs == nil {
		diags = append(diags, undeclaredStages(in.File, def, stages)...)
	}
	if len(stages) == 0 {
		return api, diag.List{{Severity: diag.Error, File: in.File, Field: "stages", Rule: "RES-11",
			Message: "no stage to serve: declare stages in the definition or name one (--stage)"}}
	}
	seen := map[string]bool{}
	for _, st := range stages {
		if seen[st.GetStageName()] {
			diags = append(diags, diag.Diagnostic{Severity: diag.Error, File: in.File, Field: "stageName",
				Message: fmt.Sprintf("stage %q is listed twice", st.GetStageName())})
			continue
		}
		seen[st.GetStageName()] = true
		stageDef := def
		if d, ok := in.StageAPIs[st.GetStageName()]; ok {
			stageDef = d
		}
		stage, ds := translateStage(in.File, api, def, stageDef, st, memo)
		diags = append(diags, ds...)
		api.Stages = append(api.Stages, stage)
	}
	sort.Slice(api.Stages, func(i, j int) bool { return api.Stages[i].Name < api.Stages[j].Name })
	if d, open := servedOpen(in.File, api); open {
		diags = append(diags, d)
	}
	return api, diags
}

// servedOpen is the warning every translation of an API repeats while its insecure opt-out serves methods that
// require authorization to anyone (issue 10 scope 1: logged at every load).
func servedOpen(file string, api ir.API) (diag.Diagnostic, bool) {
	if !api.ServeUnauthenticatedInsecure {
		return diag.Diagnostic{}, false
	}
	var names []string
	for _, st := range api.Stages {
		for _, r := range st.Routes {
			if r.Authorization != nil && !r.Authorization.Enforced() {
				names = append(names, fmt.Sprintf("%s %s (stage %s)", r.Method, r.ResourcePath, st.Name))
			}
		}
	}
	if len(names) == 0 {
		return diag.Diagnostic{}, false
	}
	const shown = 5
	more := ""
	if len(names) > shown {
		more = fmt.Sprintf(" and %d more", len(names)-shown)
		names = names[:shown]
	}
	return diag.Diagnostic{Severity: diag.Warning, File: file, Field: "serveUnauthenticatedInsecure",
		Rule: diag.RuleServedUnauthenticated, Message: fmt.Sprintf("INSECURE: API %s serves methods that require "+
			"authorization to anyone without credentials (serveUnauthenticatedInsecure): %s%s",
			api.ID, strings.Join(names, ", "), more)}, true
}

// checkProcessorRoutes reports routes whose data for the processor is longer than Envoy accepts (envoy-notes:
// HeaderValue.value ≤ 16,384 bytes, ir.MaxRouteMetadataBytes): usually a stage with long stage variables, which
// every Lambda event carries.
func checkProcessorRoutes(file string, api ir.API, st ir.Stage) diag.List {
	for _, r := range st.Routes {
		if d, bad := checkProcessorRoute(file, api, st, r); bad {
			// One finding per stage: the stage variables are the same on every route.
			return diag.List{d}
		}
	}
	return nil
}

// checkProcessorRoute is checkProcessorRoutes for one route of st (whose Routes need not be set).
func checkProcessorRoute(file string, api ir.API, st ir.Stage, r ir.Route) (diag.Diagnostic, bool) {
	if r.Integration.Type != ir.AWSProxy && r.Integration.Type != ir.Mock && (r.Integration.HTTP == nil || !r.Integration.HTTP.Processor) {
		return diag.Diagnostic{}, false
	}
	// No deployment id: route data does not carry it (the API's deployment value does, xds/builder extproc.go).
	pr := ir.ProcessorRoute{APIID: api.ID, Stage: st.Name, StageVariables: st.Variables,
		BinaryMediaTypes: api.BinaryMediaTypes, Route: r, GatewayResponses: st.GatewayResponses}
	if err := ir.CheckProcessorRoute(pr); err != nil {
		return diag.Diagnostic{Severity: diag.Error, File: file, Field: "variables", Message: err.Error()}, true
	}
	return diag.Diagnostic{}, false
}

// undeclaredStages reports stages served from a definition that declares stages but not these: usually a typo
// (--stage prdo) that would otherwise serve a new stage without the declared one's variables.
func undeclaredStages(file string, def *apigatewayv1.RestApi, stages []*apigatewayv1.Stage) diag.List {
	if len(def.GetStages()) == 0 {
		return nil
	}
	declared := map[string]bool{}
	var names []string
	for _, st := range def.GetStages() {
		declared[st.GetStageName()] = true
		names = append(names, st.GetStageName())
	}
	var diags diag.List
	for _, st := range stages {
		if !declared[st.GetStageName()] {
			diags = append(diags, diag.Diagnostic{Severity: diag.Warning, File: file, Path: "$.stages",
				Field: "stages", Rule: "RES-11", Message: fmt.Sprintf("stage %q is not declared in the definition "+
					"(it declares %s); it is served as a new stage, without the declared stages' variables",
					st.GetStageName(), strings.Join(names, ", "))})
		}
	}
	return diags
}

// translateStage translates the stage st of def (the definition it serves; main is the API's own, which gives
// the API-wide settings api holds) and checks its processor routes. memo, when not nil, translates each resource
// through its cache.
func translateStage(file string, api ir.API, main, def *apigatewayv1.RestApi, st *apigatewayv1.Stage, memo *resourceMemo) (ir.Stage, diag.List) {
	stage := ir.Stage{
		Name:         st.GetStageName(),
		DeploymentID: st.GetDeploymentId(),
		Variables:    st.GetVariables(),
	}
	// Without a declared deployment id, one derived from the definition's content (deploymentID); through the
	// cache, from the resources' kept encodings (resourceMemo.translateStage), which is the same id. Nothing
	// translated per resource reads it.
	derive := func() {
		if stage.DeploymentID == "" {
			stage.DeploymentID = deploymentID(def, st)
		}
	}
	if !validStageName(stage.Name) {
		derive()
		return stage, diag.List{{Severity: diag.Error, File: file, Field: "stageName", Rule: "RES-10",
			Message: fmt.Sprintf("stage name %q: only letters, digits, - and _ are allowed, at most 128 characters", stage.Name)}}
	}
	grs, diags := translateGatewayResponses(file, def, stage.Variables)
	stage.GatewayResponses = grs
	if als := st.GetAccessLogSettings(); als.GetFormat() != "" {
		if _, err := ir.ParseAccessLogFormat(als.GetFormat()); err != nil {
			derive()
			return stage, diag.List{{Severity: diag.Error, File: file, Path: "$.stages", Field: "accessLogSettings.format",
				Message: fmt.Sprintf("stage %q: %v", stage.Name, err)}}
		}
		stage.AccessLog = &ir.AccessLogSettings{Format: als.GetFormat(), DestinationARN: als.GetDestinationArn()}
	}
	if memo == nil {
		derive()
		for _, res := range def.GetResources() {
			routes, ds := translateResource(file, def, stage, res)
			diags = append(diags, ds...)
			stage.Routes = append(stage.Routes, routes...)
		}
		SortRoutes(stage.Routes)
		return stage, append(diags, checkProcessorRoutes(file, api, stage)...)
	}
	ds, err := memo.translateStage(file, api, main, def, st, &stage)
	if err != nil {
		// Not expected (the definition was unmarshalled, so it marshals): translate without the cache.
		return translateStage(file, api, main, def, st, nil)
	}
	return stage, append(diags, ds...)
}

// translateResource translates the methods of one resource on stage (whose Routes are not read), in method order.
func translateResource(file string, def *apigatewayv1.RestApi, stage ir.Stage, res *apigatewayv1.Resource) ([]ir.Route, diag.List) {
	segs, err := ParseResourcePath(res.GetPath())
	if err != nil {
		return nil, diag.List{{Severity: diag.Error, File: file, Field: "path", Rule: "RES-2", Message: err.Error()}}
	}
	var diags diag.List
	var routes []ir.Route
	for _, m := range sortedMethods(res) {
		meth := res.GetResourceMethods()[m]
		loc := fmt.Sprintf("%s %s", m, res.GetPath())
		integ, ds := translateIntegration(file, loc, meth, res, stage.Variables)
		if integ != nil && integ.Type == ir.Mock {
			mr := &mockRoute{file: file, loc: loc, method: m, resource: res.GetPath(), resourceID: res.GetId(),
				apiID: def.GetId(), stage: stage.Name, vars: stage.Variables, gateway: stage.GatewayResponses}
			integ.Mock = mr.translate(meth.GetIntegration())
			ds = append(ds, mr.diags...)
		}
		diags = append(diags, ds...)
		if integ == nil {
			continue
		}
		auth, ds := methodAuthorization(file, loc, def, meth, stage.Variables)
		diags = append(diags, ds...)
		if auth != nil && auth.Lambda != nil && integ.HTTP != nil && !integ.HTTP.Processor {
			// The Lambda authorizer runs in the processor, in headers mode on HTTP_PROXY routes.
			integ.HTTP.Processor = true
			integ.HTTP.ProcessorReasons = append(integ.HTTP.ProcessorReasons, "Lambda authorizer "+auth.Lambda.Name)
		}
		routes = append(routes, ir.Route{
			Name:          ir.RouteName(def.GetId(), stage.Name, res.GetId(), m),
			ResourceID:    res.GetId(),
			ResourcePath:  res.GetPath(),
			Segments:      segs,
			Method:        m,
			OperationName: meth.GetOperationName(),
			Integration:   *integ,
			Authorization: auth,
		})
	}
	return routes, diags
}

// sortedMethods are the resource's method names, sorted.
func sortedMethods(res *apigatewayv1.Resource) []string {
	methods := make([]string, 0, len(res.GetResourceMethods()))
	for m := range res.GetResourceMethods() {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	return methods
}

func validStageName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func appendUnique(list []string, more ...string) []string {
	for _, m := range more {
		found := false
		for _, l := range list {
			if strings.EqualFold(l, m) {
				found = true
				break
			}
		}
		if !found {
			list = append(list, m)
		}
	}
	return list
}

// DeployStage deploys api to one stage: the stage's declared variables, overridden by vars. A stage the
// definition does not declare is created, like a deployment to a new stage; Translate reports it (RES-11).
func DeployStage(file string, api *apigatewayv1.RestApi, stage string, vars map[string]string) Input {
	st := &apigatewayv1.Stage{StageName: stage}
	for _, s := range api.GetStages() {
		if s.GetStageName() == stage {
			st = proto.Clone(s).(*apigatewayv1.Stage)
		}
	}
	if len(vars) > 0 {
		merged := map[string]string{}
		maps.Copy(merged, st.GetVariables())
		maps.Copy(merged, vars)
		st.Variables = merged
	}
	return Input{File: file, API: api, Stages: []*apigatewayv1.Stage{st}}
}
