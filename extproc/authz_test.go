package extproc

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestAuthFromMetadata: jwt_authn's claims become strings in name order (numbers without a fraction as integers,
// booleans as true/false) and the authorization service's key reaches identity; no metadata, no Auth.
func TestAuthFromMetadata(t *testing.T) {
	if AuthFromMetadata(nil) != nil || AuthFromMetadata(&corev3.Metadata{}) != nil {
		t.Fatal("Auth without metadata")
	}
	claims, _ := structpb.NewStruct(map[string]any{"sub": "alice", "exp": float64(4102444800), "email_verified": true, "x": 1.5})
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"envoy.filters.http.jwt_authn": {Fields: map[string]*structpb.Value{"cognito_claims": structpb.NewStructValue(claims)}},
		"envoy.filters.http.ext_authz": {Fields: map[string]*structpb.Value{"apiKey": structpb.NewStringValue("kkkk"), "apiKeyId": structpb.NewStringValue("id1")}},
	}}
	a := AuthFromMetadata(md)
	want := []string{"email_verified=true", "exp=4102444800", "sub=alice", "x=1.5"}
	if len(a.Claims) != len(want) {
		t.Fatalf("claims %v", a.Claims)
	}
	for i, c := range a.Claims {
		if c.Name+"="+c.Value != want[i] {
			t.Errorf("claim %d: %s=%s, want %s", i, c.Name, c.Value, want[i])
		}
	}
	if a.APIKey != "kkkk" || a.APIKeyID != "id1" {
		t.Errorf("api key %q id %q", a.APIKey, a.APIKeyID)
	}
}
