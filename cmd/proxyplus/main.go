package main

import (
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "google.golang.org/grpc"
	_ "google.golang.org/protobuf/proto"
	_ "sigs.k8s.io/yaml"
	_ "github.com/google/go-cmp/cmp"
)

func main() {}
