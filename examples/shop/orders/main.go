// Command orders is the Lambda function behind the shop example's /orders resources
// (examples/shop/api.yaml): a Go function built with aws-lambda-go, the same artefact you would deploy to
// Lambda's provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./examples/shop/orders
//
// proxyplus runs it locally through the Lambda Runtime API (examples/gateway.yaml lists it under functions:).
// It keeps orders in memory, so a warm instance remembers what earlier requests created:
//
//	GET  /orders            the orders, as a JSON list
//	POST /orders            creates an order from a JSON body {"pet": "42", "quantity": 1}; 201 with the order
//	GET  /orders/{orderId}  one order; 404 with a JSON message when there is none
//
// Every response also carries what the function received from the gateway (resource, path, stage, request id),
// which shows the Lambda proxy event proxyplus built.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type order struct {
	ID       string `json:"id"`
	Pet      string `json:"pet"`
	Quantity int    `json:"quantity"`
}

// orders is one instance's memory; Lambda gives no more than that either (a new instance starts empty).
type orders struct {
	mu   sync.Mutex
	next int
	byID map[string]order
}

// seen is what the function got from the gateway, echoed back so the example shows the event.
type seen struct {
	Resource       string            `json:"resource"`
	Path           string            `json:"path"`
	HTTPMethod     string            `json:"httpMethod"`
	PathParameters map[string]string `json:"pathParameters"`
	Query          map[string]string `json:"queryStringParameters"`
	Stage          string            `json:"stage"`
	StageVariables map[string]string `json:"stageVariables"`
	RequestID      string            `json:"requestId"`
}

func (o *orders) handle(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	s := seen{
		Resource: req.Resource, Path: req.Path, HTTPMethod: req.HTTPMethod, PathParameters: req.PathParameters,
		Query: req.QueryStringParameters, Stage: req.RequestContext.Stage, StageVariables: req.StageVariables,
		RequestID: req.RequestContext.RequestID,
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case req.Resource == "/orders" && req.HTTPMethod == http.MethodGet:
		list := make([]order, 0, len(o.byID))
		for _, v := range o.byID {
			list = append(list, v)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		return reply(http.StatusOK, map[string]any{"orders": list, "gateway": s})
	case req.Resource == "/orders" && req.HTTPMethod == http.MethodPost:
		var in order
		if err := json.Unmarshal([]byte(req.Body), &in); err != nil || in.Pet == "" {
			return reply(http.StatusBadRequest, map[string]any{"message": `want a JSON body {"pet": "42", "quantity": 1}`})
		}
		if in.Quantity <= 0 {
			in.Quantity = 1
		}
		o.next++
		in.ID = strconv.Itoa(o.next)
		o.byID[in.ID] = in
		return reply(http.StatusCreated, map[string]any{"order": in, "gateway": s})
	case req.Resource == "/orders/{orderId}":
		v, ok := o.byID[req.PathParameters["orderId"]]
		if !ok {
			return reply(http.StatusNotFound, map[string]any{"message": fmt.Sprintf("no order %q", req.PathParameters["orderId"]), "gateway": s})
		}
		return reply(http.StatusOK, map[string]any{"order": v, "gateway": s})
	}
	return reply(http.StatusMethodNotAllowed, map[string]any{"message": "not supported", "gateway": s})
}

func reply(status int, body any) (events.APIGatewayProxyResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json", "X-Handled-By": "orders"},
		Body:       string(b),
	}, nil
}

func main() {
	o := &orders{byID: map[string]order{}}
	lambda.Start(o.handle)
}
