// Package admin implements proxyplus's gRPC AdminService (proto/proxyplus/admin/v1) on top of a store.Store:
// APIs, their deployments and stages, OpenAPI import and export, test invokes and status.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/builder"
)

// Options configure a Server.
type Options struct {
	// Store holds the APIs, deployments and stages. Required.
	Store store.Store
	// Logger receives internal errors; slog.Default() when nil.
	Logger *slog.Logger
	// StatusFunc returns the /status endpoint's value (served snapshot, Envoy nodes, last reload); GetStatus
	// marshals it to JSON. Nil reports an empty object.
	StatusFunc func() any
	// ExtProcHealthy reports whether the ext_proc service is serving. Nil reports false.
	ExtProcHealthy func() bool
	// FileAPIs returns the API ids served from definition files (id → file). Those are read-only: creating or
	// importing a stored API with such an id fails with FAILED_PRECONDITION. Nil: no file definitions.
	FileAPIs func() map[string]string
}

// Server implements adminv1.AdminServiceServer.
type Server struct {
	adminv1.UnimplementedAdminServiceServer
	opts Options
	log  *slog.Logger
}

var _ adminv1.AdminServiceServer = (*Server)(nil)

// New returns a server over opts.Store.
func New(opts Options) *Server {
	l := opts.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Server{opts: opts, log: l}
}

// Register registers the AdminService on gs.
func (s *Server) Register(gs *grpc.Server) {
	adminv1.RegisterAdminServiceServer(gs, s)
}

// storeError maps store errors to gRPC status codes; unexpected errors are logged and reported as INTERNAL.
func (s *Server) storeError(ctx context.Context, op string, err error) error {
	var code codes.Code
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, store.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, store.ErrConflict):
		code = codes.Aborted
	case errors.Is(err, store.ErrFailedPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, store.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		s.log.ErrorContext(ctx, "admin: internal error", "op", op, "error", err)
		return status.Errorf(codes.Internal, "%s: internal error", op)
	}
	return status.Error(code, err.Error())
}

// internal logs err and returns an INTERNAL status.
func (s *Server) internal(ctx context.Context, op string, err error) error {
	s.log.ErrorContext(ctx, "admin: internal error", "op", op, "error", err)
	return status.Errorf(codes.Internal, "%s: internal error", op)
}

// fieldError is INVALID_ARGUMENT with one field violation.
func fieldError(field, msg string) error {
	return invalid(msg, &errdetails.BadRequest_FieldViolation{Field: field, Description: msg})
}

func invalid(msg string, v ...*errdetails.BadRequest_FieldViolation) error {
	st := status.New(codes.InvalidArgument, msg)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = d
	}
	return st.Err()
}

// diagError turns the error diagnostics of l into INVALID_ARGUMENT with one field violation each; nil when there
// are none.
func diagError(l diag.List) error {
	errs := l.Errors()
	if len(errs) == 0 {
		return nil
	}
	v := make([]*errdetails.BadRequest_FieldViolation, len(errs))
	for i, d := range errs {
		field := d.Path
		if field == "" {
			field = d.Field
		}
		v[i] = &errdetails.BadRequest_FieldViolation{Field: field, Description: d.Message}
	}
	return invalid((&diag.ListError{Diagnostics: errs}).Error(), v...)
}

func warnings(l diag.List) []*adminv1.Warning {
	var out []*adminv1.Warning
	for _, d := range l.Warnings() {
		out = append(out, &adminv1.Warning{Path: d.Path, Field: d.Field, Rule: d.Rule, Message: d.Message})
	}
	return out
}

func apiRecord(a *store.API) *adminv1.RestApiRecord {
	def := a.Definition
	if def == nil {
		def = &apigatewayv1.RestApi{}
	}
	def.Id = a.ID
	r := &adminv1.RestApiRecord{RestApi: def, Revision: uint64(a.Revision)}
	if !a.CreatedAt.IsZero() {
		r.CreateTime = timestamppb.New(a.CreatedAt)
	}
	if !a.UpdatedAt.IsZero() {
		r.UpdateTime = timestamppb.New(a.UpdatedAt)
	}
	return r
}

func deploymentMsg(d *store.Deployment) *adminv1.Deployment {
	m := &adminv1.Deployment{Id: d.ID, RestApiId: d.APIID, Description: d.Description, RestApi: d.Definition,
		Revision: uint64(d.Revision)}
	if !d.CreatedAt.IsZero() {
		m.CreateTime = timestamppb.New(d.CreatedAt)
	}
	return m
}

func stageRecord(st *store.Stage) *adminv1.StageRecord {
	r := &adminv1.StageRecord{
		RestApiId: st.APIID,
		Stage: &apigatewayv1.Stage{StageName: st.Name, Description: st.Description, DeploymentId: st.DeploymentID,
			Variables: st.Variables},
		Revision: uint64(st.Revision),
	}
	if !st.UpdatedAt.IsZero() {
		r.UpdateTime = timestamppb.New(st.UpdatedAt)
	}
	return r
}

func pageSize(n int32, field string) (int, error) {
	if n < 0 {
		return 0, fieldError(field, "page_size must not be negative")
	}
	return int(n), nil
}

func required(field, v string) error {
	if v == "" {
		return fieldError(field, field+" is required")
	}
	return nil
}

// normalise gives a model from a client the shape the loader gives imported ones (methods keyed and spelled as
// API Gateway spells them, implied resources present, resource ids filled) and validates it with
// loader.Validate; error diagnostics become INVALID_ARGUMENT with one field violation each. An empty API id stays
// empty, for the store to derive.
func normalise(api *apigatewayv1.RestApi) (*apigatewayv1.RestApi, diag.List, error) {
	js, err := protojson.Marshal(api)
	if err != nil {
		return nil, nil, fieldError("rest_api", err.Error())
	}
	res, _ := loader.Load("rest_api", js, loader.Options{})
	if err := diagError(res.Diagnostics); err != nil {
		return nil, nil, err
	}
	out := res.API
	if out == nil {
		return nil, nil, fieldError("rest_api", "the API definition cannot be read")
	}
	out.Id = api.GetId()
	l := loader.Validate("rest_api", out)
	if err := diagError(l); err != nil {
		return nil, nil, err
	}
	return out, l, nil
}

// fileOwned refuses ids that a definition file serves: the file is the source of truth for them (GitOps).
func (s *Server) fileOwned(field, id string) error {
	if id == "" || s.opts.FileAPIs == nil {
		return nil
	}
	if file, ok := s.opts.FileAPIs()[id]; ok {
		st := status.New(codes.FailedPrecondition, fmt.Sprintf("API %q is defined by the file %s, which is read-only through the admin API: change the file, or use another id", id, file))
		if d, err := st.WithDetails(&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{Type: "FILE_DEFINED", Subject: field, Description: file}}}); err == nil {
			st = d
		}
		return st.Err()
	}
	return nil
}

// CreateRestApi validates and stores a new API.
func (s *Server) CreateRestApi(ctx context.Context, req *adminv1.CreateRestApiRequest) (*adminv1.CreateRestApiResponse, error) {
	api := req.GetRestApi()
	if api == nil {
		return nil, fieldError("rest_api", "rest_api is required")
	}
	if err := s.fileOwned("rest_api.id", api.GetId()); err != nil {
		return nil, err
	}
	api, l, err := normalise(api)
	if err != nil {
		return nil, err
	}
	a, err := s.opts.Store.CreateAPI(ctx, api)
	if err != nil {
		return nil, s.storeError(ctx, "CreateRestApi", err)
	}
	return &adminv1.CreateRestApiResponse{Record: apiRecord(a), Warnings: warnings(l)}, nil
}

// GetRestApi returns one API.
func (s *Server) GetRestApi(ctx context.Context, req *adminv1.GetRestApiRequest) (*adminv1.GetRestApiResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	a, err := s.opts.Store.GetAPI(ctx, req.GetRestApiId())
	if err != nil {
		return nil, s.storeError(ctx, "GetRestApi", err)
	}
	return &adminv1.GetRestApiResponse{Record: apiRecord(a)}, nil
}

// ListRestApis pages through the APIs in id order.
func (s *Server) ListRestApis(ctx context.Context, req *adminv1.ListRestApisRequest) (*adminv1.ListRestApisResponse, error) {
	n, err := pageSize(req.GetPageSize(), "page_size")
	if err != nil {
		return nil, err
	}
	list, next, err := s.opts.Store.ListAPIs(ctx, n, req.GetPageToken())
	if err != nil {
		return nil, s.storeError(ctx, "ListRestApis", err)
	}
	resp := &adminv1.ListRestApisResponse{NextPageToken: next}
	for _, a := range list {
		resp.Records = append(resp.Records, apiRecord(a))
	}
	return resp, nil
}

// UpdateRestApi validates and replaces an API's definition.
func (s *Server) UpdateRestApi(ctx context.Context, req *adminv1.UpdateRestApiRequest) (*adminv1.UpdateRestApiResponse, error) {
	api := req.GetRestApi()
	if api == nil {
		return nil, fieldError("rest_api", "rest_api is required")
	}
	if err := required("rest_api.id", api.GetId()); err != nil {
		return nil, err
	}
	api, l, err := normalise(api)
	if err != nil {
		return nil, err
	}
	a, err := s.opts.Store.UpdateAPI(ctx, api, store.Revision(req.GetExpectedRevision()))
	if err != nil {
		return nil, s.storeError(ctx, "UpdateRestApi", err)
	}
	return &adminv1.UpdateRestApiResponse{Record: apiRecord(a), Warnings: warnings(l)}, nil
}

// DeleteRestApi deletes an API with its deployments and stages.
func (s *Server) DeleteRestApi(ctx context.Context, req *adminv1.DeleteRestApiRequest) (*adminv1.DeleteRestApiResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	if err := s.opts.Store.DeleteAPI(ctx, req.GetRestApiId(), store.Revision(req.GetExpectedRevision())); err != nil {
		return nil, s.storeError(ctx, "DeleteRestApi", err)
	}
	return &adminv1.DeleteRestApiResponse{}, nil
}

// ImportRestApi loads an OpenAPI / Swagger / proxyplus document and creates or replaces an API from it.
func (s *Server) ImportRestApi(ctx context.Context, req *adminv1.ImportRestApiRequest) (*adminv1.ImportRestApiResponse, error) {
	if len(req.GetBody()) == 0 {
		return nil, fieldError("body", "body is required")
	}
	res, _ := loader.Load("body", req.GetBody(), loader.Options{BasePathMode: req.GetBasePathMode()})
	if err := diagError(res.Diagnostics); err != nil {
		return nil, err
	}
	if res.API == nil {
		return nil, fieldError("body", "the document holds no API definition")
	}
	replace := req.GetRestApiId() != ""
	if replace {
		res.API.Id = req.GetRestApiId()
	}
	if err := s.fileOwned("rest_api_id", res.API.GetId()); err != nil {
		return nil, err
	}
	var (
		a   *store.API
		err error
	)
	if replace {
		a, err = s.opts.Store.UpdateAPI(ctx, res.API, store.Revision(req.GetExpectedRevision()))
	} else {
		a, err = s.opts.Store.CreateAPI(ctx, res.API)
	}
	if err != nil {
		return nil, s.storeError(ctx, "ImportRestApi", err)
	}
	return &adminv1.ImportRestApiResponse{Record: apiRecord(a), Warnings: warnings(res.Diagnostics)}, nil
}

// ExportRestApi writes the API (or what a stage serves) as OpenAPI 3.0 JSON with API Gateway extensions.
func (s *Server) ExportRestApi(ctx context.Context, req *adminv1.ExportRestApiRequest) (*adminv1.ExportRestApiResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	var def *apigatewayv1.RestApi
	if name := req.GetStageName(); name != "" {
		_, dep, err := s.stageDeployment(ctx, req.GetRestApiId(), name)
		if err != nil {
			return nil, s.storeError(ctx, "ExportRestApi", err)
		}
		def = dep.Definition
	} else {
		a, err := s.opts.Store.GetAPI(ctx, req.GetRestApiId())
		if err != nil {
			return nil, s.storeError(ctx, "ExportRestApi", err)
		}
		def = a.Definition
	}
	// The stages the store serves, with their variables, are the API's stages: the store does not read a
	// definition's own (store.API). A stage export carries that stage only.
	stages, err := s.opts.Store.ListStages(ctx, req.GetRestApiId())
	if err != nil {
		return nil, s.storeError(ctx, "ExportRestApi", err)
	}
	var served []*apigatewayv1.Stage
	for _, st := range stages {
		if name := req.GetStageName(); name == "" || st.Name == name {
			served = append(served, &apigatewayv1.Stage{StageName: st.Name, Description: st.Description, Variables: st.Variables})
		}
	}
	if len(served) > 0 {
		def = proto.CloneOf(def)
		def.Stages = served
	}
	body, err := ExportOpenAPI(def)
	if err != nil {
		return nil, s.internal(ctx, "ExportRestApi", err)
	}
	return &adminv1.ExportRestApiResponse{Body: body}, nil
}

func (s *Server) stageDeployment(ctx context.Context, apiID, name string) (*store.Stage, *store.Deployment, error) {
	st, err := s.opts.Store.GetStage(ctx, apiID, name)
	if err != nil {
		return nil, nil, err
	}
	dep, err := s.opts.Store.GetDeployment(ctx, apiID, st.DeploymentID)
	if err != nil {
		return nil, nil, err
	}
	return st, dep, nil
}

// CreateDeployment snapshots an API and, with stage_name, points that stage at the snapshot (keeping its
// variables and description). A stage that could not serve the snapshot (see servable) is refused with
// FAILED_PRECONDITION and left unchanged, and no deployment is created.
func (s *Server) CreateDeployment(ctx context.Context, req *adminv1.CreateDeploymentRequest) (*adminv1.CreateDeploymentResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	var (
		st       *store.Stage
		expected store.Revision
	)
	const hint = "set it on the stage first (PutStage, or proxyplus deploy --variable NAME=VALUE)"
	if name := req.GetStageName(); name != "" {
		st = &store.Stage{APIID: req.GetRestApiId(), Name: name}
		cur, err := s.opts.Store.GetStage(ctx, req.GetRestApiId(), name)
		switch {
		case err == nil:
			st.Variables, st.Description, expected = cur.Variables, cur.Description, cur.Revision
		case errors.Is(err, store.ErrNotFound):
		default:
			return nil, s.storeError(ctx, "CreateDeployment", err)
		}
		// Check the API as it is now before snapshotting it, so that a refusal leaves no deployment behind.
		a, err := s.opts.Store.GetAPI(ctx, req.GetRestApiId())
		if err != nil {
			return nil, s.storeError(ctx, "CreateDeployment", err)
		}
		if err := servable(&store.Deployment{Definition: a.Definition}, st, hint); err != nil {
			return nil, err
		}
	}
	dep, err := s.opts.Store.CreateDeployment(ctx, req.GetRestApiId(), req.GetDescription())
	if err != nil {
		return nil, s.storeError(ctx, "CreateDeployment", err)
	}
	if st != nil {
		st.DeploymentID = dep.ID
		// The API may have changed since the check above: check the snapshot itself.
		if err := servable(dep, st, hint); err != nil {
			return nil, err
		}
		if _, err := s.opts.Store.PutStage(ctx, st, expected); err != nil {
			return nil, s.storeError(ctx, "CreateDeployment", err)
		}
	}
	return &adminv1.CreateDeploymentResponse{Deployment: deploymentMsg(dep)}, nil
}

// stageVariableRef is API Gateway's stage variable reference in integration URIs (HTP-2, RES-17); the translator
// resolves the same syntax.
var stageVariableRef = regexp.MustCompile(`\$\{stageVariables\.([A-Za-z0-9_]+)\}`)

// servable refuses a stage that the control plane could not serve: the deployment's definition is translated on
// the stage, with the stage's own variables, exactly as the control plane translates stored stages, and the Envoy
// configuration built from it is validated. Accepting such a stage would only hold the API back at the next
// reload (controlplane.HeldBack) with nobody told. The error is FAILED_PRECONDITION (the stage and the deployment
// do not fit together) with one field violation per missing stage variable ("stage.variables.NAME") and per
// other error; hint tells the caller how to set a missing variable.
func servable(dep *store.Deployment, st *store.Stage, hint string) error {
	def := &apigatewayv1.RestApi{}
	if dep.Definition != nil {
		def = proto.Clone(dep.Definition).(*apigatewayv1.RestApi)
	}
	if def.GetId() == "" {
		def.Id = st.APIID
	}
	in := translator.Input{File: "store:apis/" + st.APIID, API: def, Stages: []*apigatewayv1.Stage{{
		StageName: st.Name, DeploymentId: st.DeploymentID, Description: st.Description, Variables: st.Variables}}}
	api, l := translator.TranslateAPI(in)
	errs := l.Errors()
	if len(errs) == 0 {
		_, err := builder.Build(translator.Assemble([]ir.API{api}, translator.Options{}))
		if err == nil {
			return nil
		}
		errs = diag.List{{Severity: diag.Error, Message: "the generated Envoy configuration is invalid (a proxyplus bug; please report it): " + err.Error()}}
	}

	// Missing stage variables, each with the methods that need it.
	users := map[string][]string{}
	for _, res := range def.GetResources() {
		for _, m := range slices.Sorted(maps.Keys(res.GetResourceMethods())) {
			for _, ref := range stageVariableRef.FindAllStringSubmatch(res.GetResourceMethods()[m].GetIntegration().GetUri(), -1) {
				if _, ok := st.Variables[ref[1]]; !ok {
					users[ref[1]] = append(users[ref[1]], m+" "+res.GetPath())
				}
			}
		}
	}
	// Only variables the errors are about: a reference in an integration the translator does not serve is no error.
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(users)) {
		if slices.ContainsFunc(errs, func(d diag.Diagnostic) bool { return mentionsAny(d.Message, []string{name}) }) {
			missing = append(missing, name)
		}
	}
	var v []*errdetails.BadRequest_FieldViolation
	for _, name := range missing {
		v = append(v, &errdetails.BadRequest_FieldViolation{Field: "stage.variables." + name,
			Description: fmt.Sprintf("stage %s does not define the variable %s, which the integration uri of %s uses",
				st.Name, name, strings.Join(slices.Compact(users[name]), ", "))})
	}
	for _, d := range errs {
		if d.Field == "uri" && mentionsAny(d.Message, missing) {
			continue // reported above, by variable
		}
		field := "rest_api"
		if d.Path != "" {
			field += ": " + d.Path
		}
		if d.Field != "" {
			field += ": " + d.Field
		}
		v = append(v, &errdetails.BadRequest_FieldViolation{Field: field, Description: d.Message})
	}
	summary := v[0].GetDescription()
	if len(v) > 1 {
		summary += fmt.Sprintf(" (and %d more)", len(v)-1)
	}
	if len(missing) > 0 {
		summary += "; " + hint
	}
	what := "the new deployment"
	if dep.ID != "" {
		what = "deployment " + dep.ID
	}
	msg := fmt.Sprintf("stage %s of API %s cannot serve %s, the stage was not changed: %s", st.Name, st.APIID, what, summary)
	stat := status.New(codes.FailedPrecondition, msg)
	if d, err := stat.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		stat = d
	}
	return stat.Err()
}

// mentionsAny reports whether s holds a ${stageVariables.NAME} reference to one of names.
func mentionsAny(s string, names []string) bool {
	for _, n := range names {
		if strings.Contains(s, "${stageVariables."+n+"}") {
			return true
		}
	}
	return false
}

// ListDeployments pages through an API's deployments.
func (s *Server) ListDeployments(ctx context.Context, req *adminv1.ListDeploymentsRequest) (*adminv1.ListDeploymentsResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	n, err := pageSize(req.GetPageSize(), "page_size")
	if err != nil {
		return nil, err
	}
	list, next, err := s.opts.Store.ListDeployments(ctx, req.GetRestApiId(), n, req.GetPageToken())
	if err != nil {
		return nil, s.storeError(ctx, "ListDeployments", err)
	}
	resp := &adminv1.ListDeploymentsResponse{NextPageToken: next}
	for _, d := range list {
		resp.Deployments = append(resp.Deployments, deploymentMsg(d))
	}
	return resp, nil
}

// PutStage creates or updates a stage. A stage that could not serve its deployment (see servable) is refused
// with FAILED_PRECONDITION.
func (s *Server) PutStage(ctx context.Context, req *adminv1.PutStageRequest) (*adminv1.PutStageResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	in := req.GetStage()
	if err := required("stage.stage_name", in.GetStageName()); err != nil {
		return nil, err
	}
	if err := required("stage.deployment_id", in.GetDeploymentId()); err != nil {
		return nil, err
	}
	want := &store.Stage{
		APIID: req.GetRestApiId(), Name: in.GetStageName(), DeploymentID: in.GetDeploymentId(),
		Variables: in.GetVariables(), Description: in.GetDescription(),
	}
	// A stage that cannot serve its deployment is refused; a missing API or deployment is reported by the store.
	switch dep, err := s.opts.Store.GetDeployment(ctx, want.APIID, want.DeploymentID); {
	case err == nil:
		if err := servable(dep, want, "set it in stage.variables (proxyplus deploy --variable NAME=VALUE)"); err != nil {
			return nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, s.storeError(ctx, "PutStage", err)
	}
	st, err := s.opts.Store.PutStage(ctx, want, store.Revision(req.GetExpectedRevision()))
	if err != nil {
		return nil, s.storeError(ctx, "PutStage", err)
	}
	return &adminv1.PutStageResponse{Record: stageRecord(st)}, nil
}

// GetStage returns one stage.
func (s *Server) GetStage(ctx context.Context, req *adminv1.GetStageRequest) (*adminv1.GetStageResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	if err := required("stage_name", req.GetStageName()); err != nil {
		return nil, err
	}
	st, err := s.opts.Store.GetStage(ctx, req.GetRestApiId(), req.GetStageName())
	if err != nil {
		return nil, s.storeError(ctx, "GetStage", err)
	}
	return &adminv1.GetStageResponse{Record: stageRecord(st)}, nil
}

// ListStages lists an API's stages by name.
func (s *Server) ListStages(ctx context.Context, req *adminv1.ListStagesRequest) (*adminv1.ListStagesResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	list, err := s.opts.Store.ListStages(ctx, req.GetRestApiId())
	if err != nil {
		return nil, s.storeError(ctx, "ListStages", err)
	}
	resp := &adminv1.ListStagesResponse{}
	for _, st := range list {
		resp.Records = append(resp.Records, stageRecord(st))
	}
	return resp, nil
}

// DeleteStage deletes a stage.
func (s *Server) DeleteStage(ctx context.Context, req *adminv1.DeleteStageRequest) (*adminv1.DeleteStageResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	if err := required("stage_name", req.GetStageName()); err != nil {
		return nil, err
	}
	err := s.opts.Store.DeleteStage(ctx, req.GetRestApiId(), req.GetStageName(), store.Revision(req.GetExpectedRevision()))
	if err != nil {
		return nil, s.storeError(ctx, "DeleteStage", err)
	}
	return &adminv1.DeleteStageResponse{}, nil
}

// TestInvoke runs one request against the configuration the stage's deployment generates. Functions are never
// invoked: AWS_PROXY routes show the event; with dry_run, HTTP backends are not called either.
func (s *Server) TestInvoke(ctx context.Context, req *adminv1.TestInvokeRequest) (*adminv1.TestInvokeResponse, error) {
	if err := required("rest_api_id", req.GetRestApiId()); err != nil {
		return nil, err
	}
	if err := required("stage_name", req.GetStageName()); err != nil {
		return nil, err
	}
	if err := required("target", req.GetTarget()); err != nil {
		return nil, err
	}
	st, dep, err := s.stageDeployment(ctx, req.GetRestApiId(), req.GetStageName())
	if err != nil {
		return nil, s.storeError(ctx, "TestInvoke", err)
	}
	vars := map[string]string{}
	maps.Copy(vars, st.Variables)
	maps.Copy(vars, req.GetStageVariables())
	def := dep.Definition
	if def.GetId() == "" {
		def.Id = req.GetRestApiId()
	}
	cfg, l := translator.Translate([]translator.Input{translator.DeployStage(req.GetRestApiId(), def, st.Name, vars)},
		translator.Options{})
	if errs := l.Errors(); len(errs) > 0 {
		return nil, status.Error(codes.FailedPrecondition, (&diag.ListError{Diagnostics: errs}).Error())
	}
	inv, err := testinvoke.New(cfg)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "the stage's configuration cannot be built: %v", err)
	}
	inv.DryRun = req.GetDryRun()
	// API-key routes are checked against the stored keys and plans (with a usage counter of this call's own).
	if ks, ok := s.opts.Store.(store.KeyStore); ok {
		sk := &authz.StoreKeys{}
		if err := sk.Load(ctx, ks); err != nil {
			return nil, s.storeError(ctx, "TestInvoke", err)
		}
		inv.Authz.Keys = sk
	}
	method := req.GetMethod()
	if method == "" {
		method = "GET"
	}
	in := testinvoke.Request{Method: method, Target: req.GetTarget(), Body: req.GetBody()}
	for _, h := range req.GetHeaders() {
		in.Headers = append(in.Headers, [2]string{h.GetName(), h.GetValue()})
	}
	res, err := inv.Invoke(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "test invoke: %v", err)
	}
	js, err := json.Marshal(res)
	if err != nil {
		return nil, s.internal(ctx, "TestInvoke", err)
	}
	return &adminv1.TestInvokeResponse{ResultJson: string(js)}, nil
}

// GetStatus reports the status provider's value as JSON and the ext_proc service's health.
func (s *Server) GetStatus(ctx context.Context, _ *adminv1.GetStatusRequest) (*adminv1.GetStatusResponse, error) {
	var v any = struct{}{}
	if s.opts.StatusFunc != nil {
		v = s.opts.StatusFunc()
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, s.internal(ctx, "GetStatus", err)
	}
	healthy := s.opts.ExtProcHealthy != nil && s.opts.ExtProcHealthy()
	return &adminv1.GetStatusResponse{StatusJson: string(js), ExtprocServing: healthy}, nil
}
