package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/loader"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
)

func newClient(t *testing.T, opts Options) adminv1.AdminServiceClient {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store = st
	lis := bufconn.Listen(1 << 20)
	// The request size limit of the real server (ServerOptions), so imports of large documents reach the handler.
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(MaxRequestBytes))
	New(opts).Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminv1.NewAdminServiceClient(conn)
}

func method(m *apigatewayv1.Method) map[string]*apigatewayv1.Method {
	return map[string]*apigatewayv1.Method{m.HttpMethod: m}
}

func petAPI(id, name string) *apigatewayv1.RestApi {
	return &apigatewayv1.RestApi{
		Id:   id,
		Name: name,
		Resources: []*apigatewayv1.Resource{
			{Path: "/"},
			{Path: "/api"},
			{Path: "/api/{proxy+}", ResourceMethods: method(&apigatewayv1.Method{
				HttpMethod: "ANY", AuthorizationType: "NONE",
				RequestParameters: map[string]bool{"method.request.path.proxy": true},
				Integration: &apigatewayv1.Integration{
					Type: "HTTP_PROXY", HttpMethod: "ANY", Uri: "http://${stageVariables.backend}/{proxy}",
					RequestParameters: map[string]string{"integration.request.path.proxy": "method.request.path.proxy"},
				},
			})},
			{Path: "/pets", ResourceMethods: method(&apigatewayv1.Method{
				HttpMethod: "GET", AuthorizationType: "NONE",
				Integration: &apigatewayv1.Integration{Type: "MOCK",
					IntegrationResponses: map[string]*apigatewayv1.IntegrationResponse{"200": {StatusCode: "200"}}},
			})},
		},
	}
}

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return st
}

// wantViolation checks a refusal of a stage that cannot be served: FAILED_PRECONDITION whose message contains msg,
// with a field violation for field.
func wantViolation(t *testing.T, err error, field, msg string) {
	t.Helper()
	st := wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(st.Message(), msg) {
		t.Errorf("message %q lacks %q", st.Message(), msg)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
		}
	}
	t.Errorf("no field violation for %s in %v", field, st.Details())
}

func TestRestApiCRUD(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	created, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")})
	if err != nil {
		t.Fatal(err)
	}
	rec := created.GetRecord()
	if rec.GetRestApi().GetId() != "pets1" || rec.GetRevision() == 0 || rec.GetCreateTime() == nil {
		t.Fatalf("record = %v", rec)
	}
	got, err := c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: "pets1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got.GetRecord(), protocmp.Transform()); diff != "" {
		t.Errorf("GetRestApi differs from CreateRestApi (-want +got):\n%s", diff)
	}

	_, err = c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: "nosuch"})
	wantCode(t, err, codes.NotFound)
	_, err = c.GetRestApi(ctx, &adminv1.GetRestApiRequest{})
	wantCode(t, err, codes.InvalidArgument)

	// An invalid model is rejected with one field violation per error.
	bad := petAPI("bad1", "")
	bad.Resources = append(bad.Resources, &apigatewayv1.Resource{Path: "/a//b"})
	_, err = c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: bad})
	st := wantCode(t, err, codes.InvalidArgument)
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetDescription() == "" {
					t.Errorf("violation %v has no description", v)
				}
				fields = append(fields, v.GetField())
			}
		}
	}
	if len(fields) < 2 || !strings.Contains(strings.Join(fields, " "), "name") {
		t.Errorf("field violations = %q, want the name and the path", fields)
	}
	_, err = c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{})
	wantCode(t, err, codes.InvalidArgument)

	// Optimistic concurrency.
	upd := petAPI("pets1", "pets renamed")
	_, err = c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: upd, ExpectedRevision: rec.GetRevision() + 100})
	wantCode(t, err, codes.Aborted)
	updated, err := c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: upd, ExpectedRevision: rec.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetRecord().GetRevision() <= rec.GetRevision() || updated.GetRecord().GetRestApi().GetName() != "pets renamed" {
		t.Errorf("updated record = %v", updated.GetRecord())
	}
	_, err = c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: petAPI("nosuch", "x")})
	wantCode(t, err, codes.NotFound)
	_, err = c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: petAPI("", "x")})
	wantCode(t, err, codes.InvalidArgument)

	_, err = c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: "pets1", ExpectedRevision: rec.GetRevision()})
	wantCode(t, err, codes.Aborted)
	if _, err := c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: "pets1"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: "pets1"})
	wantCode(t, err, codes.NotFound)
	_, err = c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: "pets1"})
	wantCode(t, err, codes.NotFound)
}

func TestCreateNormalises(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	resp, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: &apigatewayv1.RestApi{Name: "loose",
		Resources: []*apigatewayv1.Resource{{Path: "/a/b", ResourceMethods: map[string]*apigatewayv1.Method{
			"GET": {Integration: &apigatewayv1.Integration{Type: "mock"}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	api := resp.GetRecord().GetRestApi()
	var paths []string
	for _, r := range api.GetResources() {
		paths = append(paths, r.GetPath())
		if r.GetId() == "" {
			t.Errorf("resource %s has no id", r.GetPath())
		}
	}
	m := api.GetResources()[2].GetResourceMethods()["GET"]
	if api.GetId() == "" || strings.Join(paths, " ") != "/ /a /a/b" || m.GetHttpMethod() != "GET" ||
		m.GetAuthorizationType() != "NONE" || m.GetIntegration().GetType() != "MOCK" {
		t.Errorf("stored model is not normalised: %v", api)
	}
}

func TestListRestApisPagination(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	for _, id := range []string{"c3", "a1", "b2"} {
		if _, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI(id, "api "+id)}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	token := ""
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("pagination does not end")
		}
		resp, err := c.ListRestApis(ctx, &adminv1.ListRestApisRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetRecords()) != 1 {
			t.Fatalf("page %d has %d records", page, len(resp.GetRecords()))
		}
		ids = append(ids, resp.GetRecords()[0].GetRestApi().GetId())
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if diff := cmp.Diff([]string{"a1", "b2", "c3"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	all, err := c.ListRestApis(ctx, &adminv1.ListRestApisRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetRecords()) != 3 || all.GetNextPageToken() != "" {
		t.Errorf("default page: %d records, token %q", len(all.GetRecords()), all.GetNextPageToken())
	}
	_, err = c.ListRestApis(ctx, &adminv1.ListRestApisRequest{PageToken: "%%not-a-token"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ListRestApis(ctx, &adminv1.ListRestApisRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument)
}

func conformanceFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testutil.SharedDir(t), "conformance", "openapi", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance OpenAPI files: %v", err)
	}
	return files
}

func TestImportRestApi(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	body, err := os.ReadFile(filepath.Join(testutil.SharedDir(t), "conformance", "openapi", "lambda-calc.swagger20.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	var validator bool
	for _, w := range resp.GetWarnings() {
		if w.GetPath() == "" || w.GetMessage() == "" {
			t.Errorf("warning without location or message: %v", w)
		}
		if strings.Contains(w.GetField(), "request-validator") {
			validator = true
		}
	}
	if !validator {
		t.Errorf("warnings %v do not report the request validators", resp.GetWarnings())
	}
	id := resp.GetRecord().GetRestApi().GetId()
	if id == "" || len(resp.GetRecord().GetRestApi().GetResources()) == 0 {
		t.Fatalf("imported record = %v", resp.GetRecord())
	}
	// Importing the same document again creates the same id.
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body})
	wantCode(t, err, codes.AlreadyExists)
	// Replacing by id works; replacing an unknown id does not.
	again, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body, RestApiId: id})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetRecord().GetRevision() <= resp.GetRecord().GetRevision() {
		t.Errorf("replacing import did not bump the revision")
	}
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body, RestApiId: "nosuch"})
	wantCode(t, err, codes.NotFound)

	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: []byte(`{"openapi": "9.9", "info": {}}`)})
	st := wantCode(t, err, codes.InvalidArgument)
	if len(st.Details()) == 0 {
		t.Errorf("no field violations in %v", st)
	}
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body, BasePathMode: "sideways"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

// TestImportRestApiYAMLAliasBomb: a 5 MB string aliased 100 times (500 MB expanded; 2.7 GB of heap in the old
// code) is refused with a field violation naming the limit, having allocated a small multiple of the document.
func TestImportRestApiYAMLAliasBomb(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	var b strings.Builder
	b.WriteString("openapi: 3.0.1\ninfo: {title: bomb, version: '1'}\npaths: {}\nx-big: &big ")
	b.WriteString(strings.Repeat("a", 5<<20))
	b.WriteString("\nx-copies: [" + strings.Repeat("*big, ", 99) + "*big]\n")
	body := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body})
	runtime.ReadMemStats(&after)
	st := wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(st.Message(), "once its aliases are expanded") {
		t.Errorf("status %v does not name the expanded-size limit", st)
	}
	// Client and server share the process: the request is marshalled, sent and parsed once each (3 × 5 MB) and
	// scanned once.
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > 128<<20 {
		t.Errorf("the refused import allocated %d MB", alloc>>20)
	}
	t.Logf("refused import of %d bytes: %.1f MB allocated (client and server)", len(body), float64(alloc)/(1<<20))
}

// TestExportImportRoundTrip: importing an export gives back the model, through the loader and through the
// service. keep.openapi.yaml adds what the conformance files lack: authorizers (and which method uses which, with
// scopes), gateway responses, the API key source, and a stored stage with variables.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	for _, f := range append(conformanceFiles(t), filepath.Join("testdata", "keep.openapi.yaml")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// The OpenAPI 3 and Swagger 2.0 variants of a case share a title, hence an id: one store each.
			c := newClient(t, Options{})
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			imp, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: body})
			if err != nil {
				t.Fatal(err)
			}
			want := imp.GetRecord().GetRestApi()
			keep := filepath.Base(f) == "keep.openapi.yaml"
			if keep {
				stage := &apigatewayv1.Stage{StageName: "dev", Description: "development",
					Variables: map[string]string{"backend": "orders.dev.example.com"}}
				dep, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: want.GetId()})
				if err != nil {
					t.Fatal(err)
				}
				put := proto.CloneOf(stage)
				put.DeploymentId = dep.GetDeployment().GetId()
				if _, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: want.GetId(), Stage: put}); err != nil {
					t.Fatal(err)
				}
				want = proto.CloneOf(want)
				want.Stages = []*apigatewayv1.Stage{stage}
				checkKept(t, want)
			}
			exp, err := c.ExportRestApi(ctx, &adminv1.ExportRestApiRequest{RestApiId: want.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(exp.GetBody(), &doc); err != nil || doc["openapi"] != "3.0.1" {
				t.Fatalf("export is not OpenAPI 3.0 JSON (%v): %s", err, exp.GetBody())
			}
			res, err := loader.Load("export.json", exp.GetBody(), loader.Options{})
			if err != nil {
				t.Fatalf("export does not load: %v\n%s", err, exp.GetBody())
			}
			for _, w := range res.Diagnostics.Warnings() {
				if w.Rule == "OAS-1" {
					t.Errorf("export does not validate: %v", w)
				}
			}
			if diff := cmp.Diff(want, res.API, protocmp.Transform()); diff != "" {
				t.Errorf("Import(Export(api)) differs (-want +got):\n%s", diff)
			}
			if keep {
				// The export validates as a deployment of its stage: the stage variable the uris use is there.
				_, diags := translator.Translate([]translator.Input{{File: "export.json", API: res.API}}, translator.Options{})
				if err := diags.Err(); err != nil {
					t.Errorf("export does not translate for its stages: %v", err)
				}
			}
			// The same through the service: replacing the API with its export changes nothing.
			re, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: exp.GetBody(), RestApiId: want.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, re.GetRecord().GetRestApi(), protocmp.Transform()); diff != "" {
				t.Errorf("re-import differs (-want +got):\n%s", diff)
			}
		})
	}
	_, err := c.ExportRestApi(ctx, &adminv1.ExportRestApiRequest{RestApiId: "nosuch"})
	wantCode(t, err, codes.NotFound)
}

// checkKept: the import of keep.openapi.yaml holds what the round trip must keep, so an equal re-import means it
// was kept (the old model had none of it).
func checkKept(t *testing.T, api *apigatewayv1.RestApi) {
	t.Helper()
	if api.GetApiKeySource() != "AUTHORIZER" || len(api.GetGatewayResponses()) != 2 || len(api.GetAuthorizers()) != 2 ||
		api.GetGatewayResponses()["UNAUTHORIZED"].GetStatusCode() != "401" {
		t.Errorf("import lost API settings: %v", api)
	}
	token := api.GetAuthorizers()[0]
	if token.GetName() != "tokenAuth" || token.GetType() != "TOKEN" || token.AuthorizerResultTtlInSeconds == nil ||
		token.GetIdentityValidationExpression() == "" {
		t.Errorf("authorizer %v", token)
	}
	for _, r := range api.GetResources() {
		if get := r.GetResourceMethods()["GET"]; get != nil && (get.GetAuthorizerName() != "tokenAuth" || !get.GetApiKeyRequired()) {
			t.Errorf("GET %s: %v", r.GetPath(), get)
		}
		if post := r.GetResourceMethods()["POST"]; post != nil && (post.GetAuthorizerName() != "users" ||
			len(post.GetAuthorizationScopes()) != 1 || post.GetAuthorizationType() != "COGNITO_USER_POOLS") {
			t.Errorf("POST %s: %v", r.GetPath(), post)
		}
	}
}

func TestExportRoundTripModel(t *testing.T) {
	// Fields the conformance files do not use: every extension field, authorization and binary media types.
	api := petAPI("", "model")
	api.Description = "all the fields"
	api.BinaryMediaTypes = []string{"image/png", "*/*"}
	get := api.Resources[3].ResourceMethods["GET"]
	get.OperationName = "ListPets"
	get.AuthorizationType = "AWS_IAM"
	get.ApiKeyRequired = true
	get.RequestParameters = map[string]bool{"method.request.querystring.limit": false, "method.request.header.X-Trace": true}
	get.Integration.PassthroughBehavior = "WHEN_NO_MATCH"
	get.Integration.RequestTemplates = map[string]string{"application/json": `{"statusCode": 200}`}
	get.Integration.IntegrationResponses["404"] = &apigatewayv1.IntegrationResponse{StatusCode: "404",
		SelectionPattern: "4\\d{2}", ResponseParameters: map[string]string{"method.response.header.X": "'y'"},
		ResponseTemplates: map[string]string{"application/json": "{}"}}
	proxy := api.Resources[2].ResourceMethods["ANY"].Integration
	proxy.TimeoutInMillis = 5000
	proxy.ConnectionType = "INTERNET"
	proxy.TlsConfig = &apigatewayv1.TlsConfig{InsecureSkipVerification: true}
	proxy.CacheNamespace = "ns"
	proxy.CacheKeyParameters = []string{"method.request.path.proxy"}

	first, err := ExportOpenAPI(api)
	if err != nil {
		t.Fatal(err)
	}
	res1, err := loader.Load("first.json", first, loader.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	second, err := ExportOpenAPI(res1.API)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := loader.Load("second.json", second, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res1.API, res2.API, protocmp.Transform()); diff != "" {
		t.Errorf("round trip differs (-want +got):\n%s", diff)
	}
	m := res1.API.GetResources()[len(res1.API.GetResources())-1].GetResourceMethods()["GET"]
	if m.GetAuthorizationType() != "AWS_IAM" || !m.GetApiKeyRequired() || len(m.GetRequestParameters()) != 2 ||
		len(m.GetIntegration().GetIntegrationResponses()) != 2 || len(res1.API.GetBinaryMediaTypes()) != 2 {
		t.Errorf("fields lost in export: %v", m)
	}
}

func TestDeployStageTestInvoke(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	if _, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: "nosuch"})
	wantCode(t, err, codes.NotFound)

	// The API needs the stage variable "backend": a deployment to a new stage (which has no variables) is refused.
	_, err = c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: "pets1", Description: "first", StageName: "dev"})
	wantViolation(t, err, "stage.variables.backend", "ANY /api/{proxy+}")
	_, err = c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: "pets1", StageName: "dev"})
	wantCode(t, err, codes.NotFound)

	d1, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: "pets1", Description: "first"})
	if err != nil {
		t.Fatal(err)
	}
	dep1 := d1.GetDeployment()
	if dep1.GetId() == "" || dep1.GetRestApi().GetName() != "pets" || dep1.GetDescription() != "first" {
		t.Fatalf("deployment = %v", dep1)
	}
	// A stage without the variable is refused too; with it, it is created.
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1", Stage: &apigatewayv1.Stage{StageName: "dev", DeploymentId: dep1.GetId()}})
	wantViolation(t, err, "stage.variables.backend", "stage dev")
	if _, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1", Stage: &apigatewayv1.Stage{StageName: "dev",
		DeploymentId: dep1.GetId(), Variables: map[string]string{"backend": "first.internal:8081"}}}); err != nil {
		t.Fatal(err)
	}
	stage, err := c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: "pets1", StageName: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if stage.GetRecord().GetStage().GetDeploymentId() != dep1.GetId() {
		t.Fatalf("stage = %v, want deployment %s", stage.GetRecord(), dep1.GetId())
	}

	// Stage variables, then a second deployment to the stage keeps them.
	put, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1", ExpectedRevision: stage.GetRecord().GetRevision(),
		Stage: &apigatewayv1.Stage{StageName: "dev", DeploymentId: dep1.GetId(), Variables: map[string]string{"backend": "backend.internal:8081"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1", ExpectedRevision: stage.GetRecord().GetRevision(),
		Stage: &apigatewayv1.Stage{StageName: "dev", DeploymentId: dep1.GetId(), Variables: map[string]string{"backend": "x:8080"}}})
	wantCode(t, err, codes.Aborted)
	// Removing the variable the served deployment needs is refused: the stage keeps serving as it does.
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1",
		Stage: &apigatewayv1.Stage{StageName: "dev", DeploymentId: dep1.GetId()}})
	wantViolation(t, err, "stage.variables.backend", "backend")
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1",
		Stage: &apigatewayv1.Stage{StageName: "prod", DeploymentId: "nosuchdeployment"}})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "nosuch",
		Stage: &apigatewayv1.Stage{StageName: "prod", DeploymentId: dep1.GetId()}})
	wantCode(t, err, codes.NotFound)
	_, err = c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: "pets1", Stage: &apigatewayv1.Stage{DeploymentId: dep1.GetId()}})
	wantCode(t, err, codes.InvalidArgument)

	d2, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: "pets1", StageName: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	stage, err = c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: "pets1", StageName: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if s := stage.GetRecord().GetStage(); s.GetDeploymentId() != d2.GetDeployment().GetId() ||
		s.GetVariables()["backend"] != "backend.internal:8081" || stage.GetRecord().GetRevision() <= put.GetRecord().GetRevision() {
		t.Errorf("stage after redeploy = %v", stage.GetRecord())
	}

	deps, err := c.ListDeployments(ctx, &adminv1.ListDeploymentsRequest{RestApiId: "pets1", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.GetDeployments()) != 1 || deps.GetNextPageToken() == "" {
		t.Fatalf("first page = %v", deps)
	}
	rest, err := c.ListDeployments(ctx, &adminv1.ListDeploymentsRequest{RestApiId: "pets1", PageToken: deps.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.GetDeployments()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page = %v", rest)
	}
	_, err = c.ListDeployments(ctx, &adminv1.ListDeploymentsRequest{RestApiId: "nosuch"})
	wantCode(t, err, codes.NotFound)

	// MOCK route, dry run.
	inv, err := c.TestInvoke(ctx, &adminv1.TestInvokeRequest{RestApiId: "pets1", StageName: "dev", Method: "GET",
		Target: "/dev/pets", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Route       struct{ Resource, Method string }
		Integration *struct {
			Type    string
			Request *struct{ Method, URL string }
		}
		Response *struct {
			StatusCode int
		}
	}
	if err := json.Unmarshal([]byte(inv.GetResultJson()), &res); err != nil {
		t.Fatal(err)
	}
	if res.Route.Resource != "/pets" || res.Route.Method != "GET" || res.Response == nil || res.Response.StatusCode != 200 {
		t.Errorf("MOCK result = %s", inv.GetResultJson())
	}

	// HTTP_PROXY route, dry run: the upstream request with the stage variable, overridden per request.
	inv, err = c.TestInvoke(ctx, &adminv1.TestInvokeRequest{RestApiId: "pets1", StageName: "dev", Method: "POST",
		Target: "/dev/api/a/b?x=1", DryRun: true, Body: []byte("hi"),
		Headers:        []*adminv1.Header{{Name: "content-type", Value: "text/plain"}},
		StageVariables: map[string]string{"backend": "override.internal:9000"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Integration, res.Response = nil, nil
	if err := json.Unmarshal([]byte(inv.GetResultJson()), &res); err != nil {
		t.Fatal(err)
	}
	if res.Route.Resource != "/api/{proxy+}" || res.Route.Method != "ANY" || res.Integration == nil ||
		res.Integration.Type != "HTTP_PROXY" || res.Integration.Request == nil ||
		res.Integration.Request.Method != "POST" || !strings.HasPrefix(res.Integration.Request.URL, "http://override.internal:9000/a/b") ||
		res.Response != nil {
		t.Errorf("HTTP_PROXY result = %s", inv.GetResultJson())
	}

	_, err = c.TestInvoke(ctx, &adminv1.TestInvokeRequest{RestApiId: "pets1", StageName: "nosuch", Target: "/nosuch/pets", DryRun: true})
	wantCode(t, err, codes.NotFound)
	_, err = c.TestInvoke(ctx, &adminv1.TestInvokeRequest{RestApiId: "pets1", StageName: "dev"})
	wantCode(t, err, codes.InvalidArgument)

	// Export of what the stage serves.
	exp, err := c.ExportRestApi(ctx, &adminv1.ExportRestApiRequest{RestApiId: "pets1", StageName: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(exp.GetBody()), "x-amazon-apigateway-any-method") ||
		!strings.Contains(string(exp.GetBody()), `"type": "http_proxy"`) {
		t.Errorf("stage export = %s", exp.GetBody())
	}
	_, err = c.ExportRestApi(ctx, &adminv1.ExportRestApiRequest{RestApiId: "pets1", StageName: "nosuch"})
	wantCode(t, err, codes.NotFound)

	stages, err := c.ListStages(ctx, &adminv1.ListStagesRequest{RestApiId: "pets1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stages.GetRecords()) != 1 || stages.GetRecords()[0].GetRestApiId() != "pets1" {
		t.Errorf("stages = %v", stages.GetRecords())
	}
	_, err = c.DeleteStage(ctx, &adminv1.DeleteStageRequest{RestApiId: "pets1", StageName: "dev", ExpectedRevision: 1})
	wantCode(t, err, codes.Aborted)
	if _, err := c.DeleteStage(ctx, &adminv1.DeleteStageRequest{RestApiId: "pets1", StageName: "dev",
		ExpectedRevision: stage.GetRecord().GetRevision()}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: "pets1", StageName: "dev"})
	wantCode(t, err, codes.NotFound)
	_, err = c.DeleteStage(ctx, &adminv1.DeleteStageRequest{RestApiId: "pets1", StageName: "dev"})
	wantCode(t, err, codes.NotFound)
}

func TestGetStatus(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{
		StatusFunc:     func() any { return map[string]any{"version": "42", "nodes": []string{"envoy-1"}} },
		ExtProcHealthy: func() bool { return true },
	})
	resp, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatusJson() != `{"nodes":["envoy-1"],"version":"42"}` || !resp.GetExtprocServing() {
		t.Errorf("status = %v", resp)
	}

	empty := newClient(t, Options{})
	resp, err = empty.GetStatus(ctx, &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatusJson() != "{}" || resp.GetExtprocServing() {
		t.Errorf("status without providers = %v", resp)
	}

	bad := newClient(t, Options{Logger: slog.New(slog.DiscardHandler), StatusFunc: func() any { return func() {} }})
	_, err = bad.GetStatus(ctx, &adminv1.GetStatusRequest{})
	wantCode(t, err, codes.Internal)
}

// TestFileDefinedAPIsAreReadOnly: ids served from definition files cannot be created or imported through the
// admin API (FAILED_PRECONDITION naming the file); other ids can.
func TestFileDefinedAPIsAreReadOnly(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{FileAPIs: func() map[string]string { return map[string]string{"gitops01": "/etc/proxyplus/pets.yaml"} }})
	_, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("gitops01", "pets")})
	st := wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(st.Message(), "/etc/proxyplus/pets.yaml") {
		t.Errorf("message does not name the file: %q", st.Message())
	}
	body, err := protojson.Marshal(petAPI("", "pets"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{RestApiId: "gitops01", Body: body})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("stored01", "pets")}); err != nil {
		t.Fatalf("an id no file defines: %v", err)
	}
}

// TestImportRestApiExpectedRevision: re-importing over an API checks the revision like UpdateRestApi does.
func TestImportRestApiExpectedRevision(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, Options{})
	created, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(petAPI("", "pets"))
	if err != nil {
		t.Fatal(err)
	}
	rev := created.GetRecord().GetRevision()
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{RestApiId: "pets1", Body: body, ExpectedRevision: rev + 1})
	wantCode(t, err, codes.Aborted)
	resp, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{RestApiId: "pets1", Body: body, ExpectedRevision: rev})
	if err != nil || resp.GetRecord().GetRevision() <= rev {
		t.Fatalf("import at the current revision: %v, %v", resp, err)
	}
}
