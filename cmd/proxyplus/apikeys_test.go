package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxyplus/proxyplus/admin"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

// TestAPIKeysCLI: create a key, bind it with a usage plan, disable it, export and import into another server.
func TestAPIKeysCLI(t *testing.T) {
	s := startCLIServer(t, admin.Options{})
	var k adminv1.ApiKey
	if err := protojson.Unmarshal([]byte(s.ok(t, "apikeys", "create", "--name", "partner", "--value", "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp")), &k); err != nil {
		t.Fatal(err)
	}
	if !k.GetEnabled() || k.GetId() == "" {
		t.Fatalf("created key %+v", &k)
	}
	if out := s.ok(t, "apikeys", "list"); strings.Contains(out, k.GetValue()) || !strings.Contains(out, k.GetId()) {
		t.Errorf("apikeys list shows the value or misses the key:\n%s", out)
	}
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte("id: gold\nname: gold\napiStages: [{restApiId: a1b2c3d4e5, stage: dev}]\n"+
		"throttle: {rateLimit: 100, burstLimit: 200}\nquota: {limit: 10000, period: MONTH}\nkeyIds: ["+k.GetId()+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(t, "usageplans", "apply", "-f", plan)
	if out := s.ok(t, "usageplans", "list"); !strings.Contains(out, "a1b2c3d4e5/dev") || !strings.Contains(out, "10000/MONTH") {
		t.Errorf("usageplans list:\n%s", out)
	}
	s.ok(t, "apikeys", "disable", k.GetId())
	var got adminv1.ApiKey
	if err := protojson.Unmarshal([]byte(s.ok(t, "apikeys", "get", k.GetId(), "--show-value")), &got); err != nil {
		t.Fatal(err)
	}
	if got.GetEnabled() || got.GetValue() != k.GetValue() {
		t.Errorf("after disable: %+v", &got)
	}
	exported := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(exported, []byte(s.ok(t, "apikeys", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	other := startCLIServer(t, admin.Options{})
	if out := other.ok(t, "apikeys", "import", "-f", exported); !strings.Contains(out, "imported 1 api keys, 1 usage plans") {
		t.Errorf("import: %s", out)
	}
	s.ok(t, "usageplans", "delete", "gold")
	s.ok(t, "apikeys", "delete", k.GetId())
	if out := s.ok(t, "apikeys", "list"); strings.Contains(out, k.GetId()) {
		t.Errorf("deleted key still listed:\n%s", out)
	}
}
