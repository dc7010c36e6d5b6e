package admin

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// mutatingMethods are the AdminService methods that change the store; each call is audited. Every other
// AdminService method is listed in readOnlyMethods, so adding an RPC without classifying it fails the tests.
var mutatingMethods = map[string]bool{
	adminv1.AdminService_CreateRestApi_FullMethodName:    true,
	adminv1.AdminService_UpdateRestApi_FullMethodName:    true,
	adminv1.AdminService_DeleteRestApi_FullMethodName:    true,
	adminv1.AdminService_ImportRestApi_FullMethodName:    true,
	adminv1.AdminService_CreateDeployment_FullMethodName: true,
	adminv1.AdminService_PutStage_FullMethodName:         true,
	adminv1.AdminService_DeleteStage_FullMethodName:      true,
	adminv1.AdminService_PutApiKey_FullMethodName:        true,
	adminv1.AdminService_DeleteApiKey_FullMethodName:     true,
	adminv1.AdminService_PutUsagePlan_FullMethodName:     true,
	adminv1.AdminService_DeleteUsagePlan_FullMethodName:  true,
	adminv1.AdminService_ImportApiKeys_FullMethodName:    true,
}

// readOnlyMethods change nothing and are not audited. TestInvoke never calls functions and only calls HTTP
// backends the way a client of the stage could.
var readOnlyMethods = map[string]bool{
	adminv1.AdminService_GetRestApi_FullMethodName:      true,
	adminv1.AdminService_ListRestApis_FullMethodName:    true,
	adminv1.AdminService_ExportRestApi_FullMethodName:   true,
	adminv1.AdminService_ListDeployments_FullMethodName: true,
	adminv1.AdminService_GetStage_FullMethodName:        true,
	adminv1.AdminService_ListStages_FullMethodName:      true,
	adminv1.AdminService_TestInvoke_FullMethodName:      true,
	adminv1.AdminService_GetStatus_FullMethodName:       true,
	adminv1.AdminService_GetApiKey_FullMethodName:       true,
	adminv1.AdminService_ListApiKeys_FullMethodName:     true,
	adminv1.AdminService_GetUsagePlan_FullMethodName:    true,
	adminv1.AdminService_ListUsagePlans_FullMethodName:  true,
	adminv1.AdminService_ExportApiKeys_FullMethodName:   true,
}

func isMutating(fullMethod string) bool { return mutatingMethods[fullMethod] }

// shortMethod is "CreateRestApi" for "/proxyplus.admin.v1.AdminService/CreateRestApi".
func shortMethod(fullMethod string) string {
	return fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
}

// audit logs one mutating call: who made it, how they were authenticated, the method, the resources it named,
// the result code and, on success, the revision it wrote.
func (g *guard) audit(ctx context.Context, c caller, fullMethod string, req, resp any, err error) {
	attrs := []slog.Attr{
		slog.String("who", c.who),
		slog.String("auth", c.via),
	}
	if c.cert != "" && c.cert != c.who {
		attrs = append(attrs, slog.String("cert", c.cert))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	attrs = append(attrs, slog.String("method", shortMethod(fullMethod)))
	attrs = append(attrs, resourceAttrs(req, resp)...)
	st := status.Convert(err)
	attrs = append(attrs, slog.String("code", st.Code().String()))
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", st.Message()))
	} else if rev, ok := revisionOf(resp); ok {
		attrs = append(attrs, slog.Uint64("revision", rev))
	}
	g.log.LogAttrs(ctx, level, "admin audit", attrs...)
}

// resourceAttrs names what a mutating request touches: API id (taken from the response when the server chose
// it), stage, deployment and the expected revision the caller gave. Request bodies are never logged.
func resourceAttrs(req, resp any) []slog.Attr {
	var (
		apiID, stage, deployment string
		expected                 uint64
		extra                    []slog.Attr
	)
	switch r := req.(type) {
	case *adminv1.CreateRestApiRequest:
		apiID = r.GetRestApi().GetId()
		if apiID == "" {
			out, _ := resp.(*adminv1.CreateRestApiResponse) // nil after a failure
			apiID = out.GetRecord().GetRestApi().GetId()
		}
		extra = append(extra, slog.String("name", r.GetRestApi().GetName()))
	case *adminv1.UpdateRestApiRequest:
		apiID, expected = r.GetRestApi().GetId(), r.GetExpectedRevision()
	case *adminv1.DeleteRestApiRequest:
		apiID, expected = r.GetRestApiId(), r.GetExpectedRevision()
	case *adminv1.ImportRestApiRequest:
		apiID, expected = r.GetRestApiId(), r.GetExpectedRevision()
		if apiID == "" {
			out, _ := resp.(*adminv1.ImportRestApiResponse)
			apiID = out.GetRecord().GetRestApi().GetId()
		}
		extra = append(extra, slog.Int("body_bytes", len(r.GetBody())))
		if m := r.GetBasePathMode(); m != "" {
			extra = append(extra, slog.String("base_path_mode", m))
		}
	case *adminv1.CreateDeploymentRequest:
		apiID, stage = r.GetRestApiId(), r.GetStageName()
		out, _ := resp.(*adminv1.CreateDeploymentResponse)
		deployment = out.GetDeployment().GetId()
	case *adminv1.PutStageRequest:
		apiID, stage, deployment = r.GetRestApiId(), r.GetStage().GetStageName(), r.GetStage().GetDeploymentId()
		expected = r.GetExpectedRevision()
	case *adminv1.DeleteStageRequest:
		apiID, stage, expected = r.GetRestApiId(), r.GetStageName(), r.GetExpectedRevision()
	// API keys are named by id, never by value.
	case *adminv1.PutApiKeyRequest:
		out, _ := resp.(*adminv1.PutApiKeyResponse)
		id := out.GetApiKey().GetId()
		if id == "" {
			id = r.GetApiKey().GetId()
		}
		expected = r.GetExpectedRevision()
		extra = append(extra, slog.String("api_key_id", id), slog.Bool("enabled", r.GetApiKey().GetEnabled()))
	case *adminv1.DeleteApiKeyRequest:
		expected = r.GetExpectedRevision()
		extra = append(extra, slog.String("api_key_id", r.GetId()))
	case *adminv1.PutUsagePlanRequest:
		out, _ := resp.(*adminv1.PutUsagePlanResponse)
		id := out.GetUsagePlan().GetId()
		if id == "" {
			id = r.GetUsagePlan().GetId()
		}
		expected = r.GetExpectedRevision()
		extra = append(extra, slog.String("usage_plan_id", id))
	case *adminv1.DeleteUsagePlanRequest:
		expected = r.GetExpectedRevision()
		extra = append(extra, slog.String("usage_plan_id", r.GetId()))
	case *adminv1.ImportApiKeysRequest:
		extra = append(extra, slog.Int("body_bytes", len(r.GetBody())))
	}
	var attrs []slog.Attr
	if apiID != "" {
		attrs = append(attrs, slog.String("rest_api_id", apiID))
	}
	if stage != "" {
		attrs = append(attrs, slog.String("stage", stage))
	}
	if deployment != "" {
		attrs = append(attrs, slog.String("deployment_id", deployment))
	}
	if expected != 0 {
		attrs = append(attrs, slog.Uint64("expected_revision", expected))
	}
	return append(attrs, extra...)
}

// revisionOf is the store revision a successful mutating call wrote, where the response carries one.
func revisionOf(resp any) (uint64, bool) {
	var rev uint64
	switch r := resp.(type) {
	case *adminv1.CreateRestApiResponse:
		rev = r.GetRecord().GetRevision()
	case *adminv1.UpdateRestApiResponse:
		rev = r.GetRecord().GetRevision()
	case *adminv1.ImportRestApiResponse:
		rev = r.GetRecord().GetRevision()
	case *adminv1.CreateDeploymentResponse:
		rev = r.GetDeployment().GetRevision()
	case *adminv1.PutStageResponse:
		rev = r.GetRecord().GetRevision()
	case *adminv1.PutApiKeyResponse:
		rev = r.GetApiKey().GetRevision()
	case *adminv1.PutUsagePlanResponse:
		rev = r.GetUsagePlan().GetRevision()
	}
	return rev, rev != 0
}
