package main

// The deploy command: snapshot an API and point a stage at it through the admin API.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// runDeploy snapshots an API and points a stage at the snapshot, as API Gateway's create-deployment with a stage
// name does. --variable sets stage variables; the stage's other variables and its description are kept.
func runDeploy(ctx context.Context, e *env, args []string) error {
	var (
		apiRef, stage, description string
		vars                       multiFlag
	)
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&apiRef, "api", "", "API id or name (required)")
		fs.StringVar(&stage, "stage", "", "stage to point at the new deployment, created if missing (required)")
		fs.StringVar(&description, "description", "", "deployment description")
		fs.Var(&vars, "variable", "stage variable name=value (repeatable; the stage's other variables are kept)")
	}
	return adminCommand(ctx, e, "deploy", "deploy --api NAME_OR_ID --stage NAME [--description D] [--variable k=v]... [flags]",
		args, 0, "", setup, func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
			if apiRef == "" || stage == "" {
				return usageError{errors.New("--api and --stage are required")}
			}
			set, err := keyValues("variable", vars)
			if err != nil {
				return err
			}
			rec, err := c.resolve(ctx, apiRef)
			if err != nil {
				return err
			}
			id := rec.GetRestApi().GetId()
			var (
				dep *adminv1.CreateDeploymentResponse
				put *adminv1.StageRecord
			)
			if len(set) == 0 {
				// One call: the server checks that the stage can serve the new deployment before creating it.
				if dep, err = c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id, Description: description,
					StageName: stage}); err != nil {
					return c.rpcError(err)
				}
				got, err := c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: id, StageName: stage})
				if err != nil {
					return c.rpcError(err)
				}
				put = got.GetRecord()
			} else {
				if dep, put, err = deployWithVariables(ctx, c, id, stage, description, set); err != nil {
					return err
				}
			}
			if a.output == "json" {
				return printDeployJSON(e.stdout, dep.GetDeployment(), put)
			}
			fmt.Fprintf(e.stdout, "deployed API %s (%s) to stage %s: deployment %s (revision %d), stage revision %d\n",
				id, rec.GetRestApi().GetName(), stage, dep.GetDeployment().GetId(), dep.GetDeployment().GetRevision(), put.GetRevision())
			return nil
		})
}

// deployWithVariables creates a deployment and points the stage at it with the variables set (the stage's other
// variables and its description are kept). The server refuses a stage that cannot serve the deployment.
func deployWithVariables(ctx context.Context, c *adminConn, id, stage, description string, set map[string]string) (*adminv1.CreateDeploymentResponse, *adminv1.StageRecord, error) {
	st := &apigatewayv1.Stage{StageName: stage, Variables: map[string]string{}}
	var expected uint64
	cur, err := c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: id, StageName: stage})
	switch {
	case err == nil:
		st.Description, expected = cur.GetRecord().GetStage().GetDescription(), cur.GetRecord().GetRevision()
		for k, v := range cur.GetRecord().GetStage().GetVariables() {
			st.Variables[k] = v
		}
	case status.Code(err) != codes.NotFound:
		return nil, nil, c.rpcError(err)
	}
	for k, v := range set {
		st.Variables[k] = v
	}
	dep, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id, Description: description})
	if err != nil {
		return nil, nil, c.rpcError(err)
	}
	st.DeploymentId = dep.GetDeployment().GetId()
	put, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: id, Stage: st, ExpectedRevision: expected})
	if status.Code(err) == codes.Aborted {
		return nil, nil, fmt.Errorf("Aborted: stage %s of API %s was changed concurrently; deployment %s was created but the stage does not serve it: deploy again",
			stage, id, st.DeploymentId)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deployment %s was created but the stage was not updated: %w", st.DeploymentId, c.rpcError(err))
	}
	return dep, put.GetRecord(), nil
}

// printDeployJSON prints {"deployment": Deployment, "stage": StageRecord}, both as protojson.
func printDeployJSON(w io.Writer, dep *adminv1.Deployment, st *adminv1.StageRecord) error {
	d, err := protojson.Marshal(dep)
	if err != nil {
		return err
	}
	s, err := protojson.Marshal(st)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]json.RawMessage{"deployment": d, "stage": s}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
