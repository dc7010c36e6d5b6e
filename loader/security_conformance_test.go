package loader

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestConformanceExportIDs: API Gateway's exports name the API's execute-api host; the import keeps that id, so
// the API answers its own host (issue 10 scope 5).
func TestConformanceExportIDs(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "conformance", "openapi")
	for file, want := range map[string]string{
		"petstore-with-proxy-resource.oas30.json":      "4z9giyi2c1",
		"petstore-with-proxy-resource.swagger20.json":  "4z9giyi2c1",
		"proxy-integration-with-lambda.oas30.json":     "gy415nuibc",
		"proxy-integration-with-lambda.swagger20.json": "gy415nuibc",
		"lambda-calc.swagger20.json":                   "uojnr9hd57",
	} {
		t.Run(file, func(t *testing.T) {
			res, err := LoadFile(filepath.Join(dir, file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.API.Id != want {
				t.Errorf("id %q, want %q", res.API.Id, want)
			}
		})
	}
}

// TestConformanceRootSecurity: the recorded imports behind the authorizer cases root-security-applies-to-operations
// and operation-security-overrides-root (AUTHORIZERS.md §7) give every method the authorization AWS gave it.
func TestConformanceRootSecurity(t *testing.T) {
	type method struct{ path, key, auth string }
	for id, want := range map[string][]method{
		"root-security-applies-to-operations": {{"/pets", "GET", "CUSTOM"}, {"/echo/{data}", "ANY", "CUSTOM"}},
		"operation-security-overrides-root":   {{"/pets", "GET", "COGNITO_USER_POOLS"}, {"/default-no-scope", "GET", "COGNITO_USER_POOLS"}},
	} {
		t.Run(id, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(sharedDir(t), "conformance", "cases", "authorizers", id+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				API map[string]any `json:"api"`
			}
			if err := yaml.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			doc, err := yaml.Marshal(c.API)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Load(id, doc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range want {
				got := findResource(t, res.API, m.path).ResourceMethods[m.key]
				if got.GetAuthorizationType() != m.auth || got.GetApiKeyRequired() {
					t.Errorf("%s %s: authorizationType %s apiKeyRequired %v, want %s and no key", m.key, m.path,
						got.GetAuthorizationType(), got.GetApiKeyRequired(), m.auth)
				}
			}
		})
	}
}
