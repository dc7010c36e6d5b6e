package translator_test

import (
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/internal/refapi"
	"github.com/proxyplus/proxyplus/translator"
)

// TestStageVariablesTooLongForEnvoy (issue 9 item 8): a stage whose variables make a Lambda route's data longer
// than Envoy's 16,384-byte HeaderValue limit fails translation with the API, stage and resource named, and only
// that API is left out; seven 2,000-character variables still fit.
func TestStageVariablesTooLongForEnvoy(t *testing.T) {
	vars := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m["var"+string(rune('a'+i))] = strings.Repeat("v", 2000)
		}
		return m
	}
	good := refapi.New(10)
	bad := refapi.New(10)
	bad.Id = "refapi0002"
	cfg, diags := translator.Translate([]translator.Input{
		translator.DeployStage("good.yaml", good, "prod", vars(7)),
		translator.DeployStage("bad.yaml", bad, "prod", vars(9)),
	}, translator.Options{})
	var errs []diag.Diagnostic
	for _, d := range diags {
		if d.Severity == diag.Error {
			errs = append(errs, d)
		}
	}
	if len(errs) != 1 || errs[0].File != "bad.yaml" || !strings.Contains(errs[0].Message, "API refapi0002 stage prod resource /svc0/") ||
		!strings.Contains(errs[0].Message, "16384") {
		t.Fatalf("diagnostics: %v", diags)
	}
	t.Log(errs[0].String())
	if len(cfg.APIs) != 1 || cfg.APIs[0].ID != "refapi0001" {
		t.Fatalf("served APIs: %v", cfg.APIs)
	}
}
