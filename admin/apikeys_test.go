package admin

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// TestAPIKeysAndUsagePlans: a key created without a value gets a generated one, returned once; Get and List hide
// the value unless asked; a plan binds the key to a stage; export then import into another store gives the same
// keys (values included) and plans.
func TestAPIKeysAndUsagePlans(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, Options{})
	put, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Name: "partner", Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	k := put.GetApiKey()
	if len(k.GetValue()) != generatedKeyValueLength || k.GetId() == "" {
		t.Fatalf("created key %+v: want a generated %d-character value and an id", k, generatedKeyValueLength)
	}
	got, err := c.GetApiKey(ctx, &adminv1.GetApiKeyRequest{Id: k.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetApiKey().GetValue() != "" {
		t.Errorf("GetApiKey without include_value returned the value")
	}
	got, err = c.GetApiKey(ctx, &adminv1.GetApiKeyRequest{Id: k.GetId(), IncludeValue: true})
	if err != nil || got.GetApiKey().GetValue() != k.GetValue() {
		t.Fatalf("GetApiKey include_value: %v, %v", got, err)
	}
	// Disabling keeps the value.
	upd, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Id: k.GetId(), Name: "partner", Enabled: false}, ExpectedRevision: k.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetApiKey().GetValue() != k.GetValue() || upd.GetApiKey().GetEnabled() {
		t.Errorf("disabled key %+v", upd.GetApiKey())
	}
	_, err = c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Id: k.GetId(), Enabled: true}, ExpectedRevision: k.GetRevision()})
	if status.Code(err) != codes.Aborted {
		t.Errorf("stale revision: %v, want ABORTED", err)
	}
	plan, err := c.PutUsagePlan(ctx, &adminv1.PutUsagePlanRequest{UsagePlan: &adminv1.UsagePlan{Name: "gold", KeyIds: []string{k.GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: "a1b2c3d4e5", Stage: "dev"}},
		Throttle:  &adminv1.Throttle{RateLimit: 10, BurstLimit: 20}, Quota: &adminv1.Quota{Limit: 1000, Period: "DAY"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutUsagePlan(ctx, &adminv1.PutUsagePlanRequest{UsagePlan: &adminv1.UsagePlan{KeyIds: []string{"nosuchkey0"}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("plan with an unknown key: %v, want FAILED_PRECONDITION", err)
	}
	exp, err := c.ExportApiKeys(ctx, &adminv1.ExportApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	other := newClient(t, Options{})
	imp, err := other.ImportApiKeys(ctx, &adminv1.ImportApiKeysRequest{Body: exp.GetBody()})
	if err != nil {
		t.Fatal(err)
	}
	if imp.GetApiKeys() != 1 || imp.GetUsagePlans() != 1 {
		t.Fatalf("imported %d keys, %d plans", imp.GetApiKeys(), imp.GetUsagePlans())
	}
	gk, err := other.GetApiKey(ctx, &adminv1.GetApiKeyRequest{Id: k.GetId(), IncludeValue: true})
	if err != nil || gk.GetApiKey().GetValue() != k.GetValue() || gk.GetApiKey().GetEnabled() {
		t.Fatalf("imported key %v, %v", gk, err)
	}
	gp, err := other.GetUsagePlan(ctx, &adminv1.GetUsagePlanRequest{Id: plan.GetUsagePlan().GetId()})
	if err != nil || gp.GetUsagePlan().GetQuota().GetLimit() != 1000 || len(gp.GetUsagePlan().GetKeyIds()) != 1 {
		t.Fatalf("imported plan %v, %v", gp, err)
	}
}

// TestTestInvokeUsesStoredKeys: the admin TestInvoke checks an API-key route against the stored keys and plans: no
// key or a key of no plan of the stage → 403, a key of the stage's plan → the event with identity.apiKey.
func TestTestInvokeUsesStoredKeys(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, Options{})
	doc := `{"openapi":"3.0.1","info":{"title":"keys","version":"1"},"x-amazon-apigateway-api-key-source":"HEADER",
"paths":{"/inventory":{"get":{"security":[{"api_key":[]}],"x-amazon-apigateway-integration":{"type":"aws_proxy","httpMethod":"POST",
"uri":"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:echo/invocations"}}}},
"components":{"securitySchemes":{"api_key":{"type":"apiKey","name":"x-api-key","in":"header"}}}}`
	imp, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: []byte(doc)})
	if err != nil {
		t.Fatal(err)
	}
	id := imp.GetRecord().GetRestApi().GetId()
	if _, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id, StageName: "dev"}); err != nil {
		t.Fatal(err)
	}
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	k, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Value: value, Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(headers ...*adminv1.Header) string {
		t.Helper()
		r, err := c.TestInvoke(ctx, &adminv1.TestInvokeRequest{RestApiId: id, StageName: "dev", Method: "GET", Target: "/dev/inventory", Headers: headers})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetResultJson()
	}
	keyHeader := &adminv1.Header{Name: "x-api-key", Value: value}
	if got := invoke(keyHeader); !strings.Contains(got, `"statusCode":403`) || !strings.Contains(got, `Forbidden`) {
		t.Errorf("key in no plan: %s", got)
	}
	if _, err := c.PutUsagePlan(ctx, &adminv1.PutUsagePlanRequest{UsagePlan: &adminv1.UsagePlan{Id: "gold", KeyIds: []string{k.GetApiKey().GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: id, Stage: "dev"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := invoke(); !strings.Contains(got, `"statusCode":403`) {
		t.Errorf("no key: %s", got)
	}
	if got := invoke(keyHeader); !strings.Contains(got, `"apiKey":"`+value+`"`) || !strings.Contains(got, `"apiKeyId":"`+k.GetApiKey().GetId()+`"`) {
		t.Errorf("key of the stage's plan: %s", got)
	}
}
