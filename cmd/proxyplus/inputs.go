package main

import (
	"flag"
	"fmt"

	"github.com/proxyplus/proxyplus/diag"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/loader"
	"github.com/proxyplus/proxyplus/translator"
)

// apiFlags are the flags that name one API deployed to one stage.
type apiFlags struct {
	api       string
	stage     string
	stageVars multiFlag
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.api, "api", "", "API definition file: proxyplus YAML/JSON, OpenAPI 3 or Swagger 2.0 with API Gateway extensions (required)")
	fs.StringVar(&a.stage, "stage", "", "stage to serve (required)")
	fs.Var(&a.stageVars, "stage-variable", "stage variable name=value (repeatable; overrides the stage's own)")
}

// input loads the definition and deploys it to the named stage: the stage's declared variables, overridden by
// --stage-variable. A stage the definition does not declare is created, like a deployment to a new stage, with a
// warning from Translate when the definition declares others.
func (a *apiFlags) input() (translator.Input, diag.List, error) {
	if a.api == "" {
		return translator.Input{}, nil, usageError{fmt.Errorf("--api is required")}
	}
	if a.stage == "" {
		return translator.Input{}, nil, usageError{fmt.Errorf("--stage is required")}
	}
	vars, err := keyValues("stage-variable", a.stageVars)
	if err != nil {
		return translator.Input{}, nil, err
	}
	res, err := loader.LoadFile(a.api, loader.Options{})
	if err != nil {
		var diags diag.List
		if res != nil {
			diags = res.Diagnostics
		}
		return translator.Input{}, diags, err
	}
	return translator.DeployStage(a.api, res.API, a.stage, vars), res.Diagnostics, nil
}

// translateOne translates one input; any error diagnostic fails.
func translateOne(in translator.Input, opts translator.Options) (*ir.Config, diag.List, error) {
	cfg, diags := translator.Translate([]translator.Input{in}, opts)
	if err := diags.Err(); err != nil {
		return nil, diags, err
	}
	return cfg, diags, nil
}
