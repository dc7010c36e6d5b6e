package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// auditLines parses the "admin audit" lines of a JSON log.
func auditLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		if m["msg"] == "admin audit" {
			out = append(out, m)
		}
	}
	return out
}

func onlyAuditLine(t *testing.T, log string) map[string]any {
	t.Helper()
	lines := auditLines(t, log)
	if len(lines) != 1 {
		t.Fatalf("want one audit line, got %d:\n%s", len(lines), log)
	}
	return lines[0]
}

// wantFields checks the given fields of an audit line (JSON numbers decode as float64) and that no other
// resource fields are present.
func wantFields(t *testing.T, line map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s: %s = %v (%T), want %v (%T)\nline: %v", line["method"], k, line[k], line[k], v, v, line)
		}
	}
	for _, k := range []string{"rest_api_id", "stage", "deployment_id", "expected_revision", "revision", "error"} {
		if _, ok := want[k]; !ok {
			if v, present := line[k]; present {
				t.Errorf("%s: unexpected %s = %v", line["method"], k, v)
			}
		}
	}
}

func TestAuditMutatingCalls(t *testing.T) {
	addr, logs := secureServer(t, Security{TokenFile: tokenFile(t)})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	ctx := withToken(t.Context(), aliceToken)

	// No stage variable needed, so that a deployment to a new stage is servable.
	api := petAPI("", "pets")
	api.Resources[2].ResourceMethods["ANY"].Integration.Uri = "http://backend.internal:8080/{proxy}"
	created, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: api})
	if err != nil {
		t.Fatal(err)
	}
	id, rev := created.GetRecord().GetRestApi().GetId(), created.GetRecord().GetRevision()
	// Reads are not audited.
	if _, err := c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRestApis(ctx, &adminv1.ListRestApisRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: petAPI(id, "pets"), ExpectedRevision: rev + 7})
	wantCode(t, err, codes.Aborted)
	dep, err := c.CreateDeployment(withToken(t.Context(), bobToken), &adminv1.CreateDeploymentRequest{RestApiId: id, StageName: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: id, Stage: &apigatewayv1.Stage{StageName: "prod",
		DeploymentId: dep.GetDeployment().GetId(), Variables: map[string]string{"backend": "secret-host:80"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStage(ctx, &adminv1.DeleteStageRequest{RestApiId: id, StageName: "prod",
		ExpectedRevision: st.GetRecord().GetRevision()}); err != nil {
		t.Fatal(err)
	}

	lines := auditLines(t, logs.String())
	if len(lines) != 5 {
		t.Fatalf("want 5 audit lines (create, update, deploy, put stage, delete stage), got %d:\n%s", len(lines), logs)
	}
	for _, l := range lines {
		if l["auth"] != "token" || !strings.HasPrefix(l["peer"].(string), "127.0.0.1:") {
			t.Errorf("audit line %v: want auth token and the peer address", l)
		}
	}
	wantFields(t, lines[0], map[string]any{"level": "INFO", "who": "alice", "method": "CreateRestApi", "rest_api_id": id,
		"name": "pets", "code": "OK", "revision": float64(rev)})
	wantFields(t, lines[1], map[string]any{"level": "WARN", "who": "alice", "method": "UpdateRestApi", "rest_api_id": id,
		"expected_revision": float64(rev + 7), "code": "Aborted", "error": lines[1]["error"]})
	if e, _ := lines[1]["error"].(string); !strings.Contains(e, "revision") {
		t.Errorf("failed update: error = %q, want the store's reason", e)
	}
	wantFields(t, lines[2], map[string]any{"who": "bob", "method": "CreateDeployment", "rest_api_id": id, "stage": "dev",
		"deployment_id": dep.GetDeployment().GetId(), "code": "OK", "revision": float64(dep.GetDeployment().GetRevision())})
	wantFields(t, lines[3], map[string]any{"who": "alice", "method": "PutStage", "rest_api_id": id, "stage": "prod",
		"deployment_id": dep.GetDeployment().GetId(), "code": "OK", "revision": float64(st.GetRecord().GetRevision())})
	wantFields(t, lines[4], map[string]any{"who": "alice", "method": "DeleteStage", "rest_api_id": id, "stage": "prod",
		"expected_revision": float64(st.GetRecord().GetRevision()), "code": "OK"})
	// Request contents (stage variables, definitions) never reach the audit log.
	if strings.Contains(logs.String(), "secret-host") || strings.Contains(logs.String(), aliceToken) {
		t.Errorf("the audit log holds request contents or a token:\n%s", logs)
	}
}

func TestAuditImportAndDelete(t *testing.T) {
	addr, logs := secureServer(t, Security{TokenFile: tokenFile(t)})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	ctx := withToken(t.Context(), aliceToken)
	body := []byte(`{"openapi":"3.0.1","info":{"title":"imp","version":"1"},"paths":{"/a":{"get":{` +
		`"x-amazon-apigateway-integration":{"type":"mock","responses":{"default":{"statusCode":"200"}}}}}}}`)
	imp, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	id := imp.GetRecord().GetRestApi().GetId()
	if _, err := c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: id})
	wantCode(t, err, codes.NotFound)
	lines := auditLines(t, logs.String())
	if len(lines) != 3 {
		t.Fatalf("want 3 audit lines, got %d:\n%s", len(lines), logs)
	}
	wantFields(t, lines[0], map[string]any{"method": "ImportRestApi", "rest_api_id": id, "body_bytes": float64(len(body)),
		"code": "OK", "revision": float64(imp.GetRecord().GetRevision())})
	wantFields(t, lines[1], map[string]any{"method": "DeleteRestApi", "rest_api_id": id, "code": "OK"})
	wantFields(t, lines[2], map[string]any{"method": "DeleteRestApi", "rest_api_id": id, "code": "NotFound",
		"error": lines[2]["error"]})
}

// Every AdminService method is classified explicitly: a new RPC must be added to one of the lists.
func TestAuditMethodClassification(t *testing.T) {
	desc := adminv1.AdminService_ServiceDesc
	if len(desc.Streams) != 0 {
		t.Errorf("AdminService has streaming methods %v: classify and audit them", desc.Streams)
	}
	seen := 0
	for _, m := range desc.Methods {
		full := "/" + desc.ServiceName + "/" + m.MethodName
		if mutatingMethods[full] == readOnlyMethods[full] {
			t.Errorf("%s: mutating=%v read-only=%v, want exactly one", full, mutatingMethods[full], readOnlyMethods[full])
		}
		seen++
	}
	if seen != len(mutatingMethods)+len(readOnlyMethods) {
		t.Errorf("the lists name %d methods, the service has %d", len(mutatingMethods)+len(readOnlyMethods), seen)
	}
}
