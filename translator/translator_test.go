package translator_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	"github.com/proxyplus/proxyplus/translator"
)

// goldenCase is a translator/testdata/<case>.in.yaml file.
type goldenCase struct {
	Stage          string            `json:"stage"`
	StageVariables map[string]string `json:"stageVariables"`
	API            json.RawMessage   `json:"api"`
}

// goldenOutput is <case>.out.yaml: the IR and the diagnostics.
type goldenOutput struct {
	Config      *ir.Config `json:"config"`
	Diagnostics diag.List  `json:"diagnostics"`
}

func TestTranslateGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	cases := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		cases[name] = true
		t.Run(name, func(t *testing.T) {
			cfg, diags := translateFile(t, in)
			out, err := json.Marshal(goldenOutput{Config: cfg, Diagnostics: diags})
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(out)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", name+".out.yaml"), y)
		})
	}
	testutil.RemoveStale(t, "testdata", "*.out.yaml", testutil.CaseName(".out.yaml"), cases)
}

// translateFile loads a golden input through the loader and translates it for its stage.
func translateFile(t *testing.T, path string) (*ir.Config, diag.List) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	res, err := loader.Load(path, c.API, loader.Options{})
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	st := &apigatewayv1.Stage{StageName: c.Stage, Variables: c.StageVariables}
	cfg, diags := translator.Translate([]translator.Input{{File: path, API: res.API, Stages: []*apigatewayv1.Stage{st}}}, translator.Options{})
	return cfg, append(res.Diagnostics, diags...)
}
