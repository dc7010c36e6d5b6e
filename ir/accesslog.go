package ir

import (
	"fmt"
	"regexp"
	"strings"
)

// AccessLogSettings is a stage's accessLogSettings (API Gateway's Stage.accessLogSettings): a format template of
// literal text and $context variables (CLF, JSON, XML or CSV as the user writes it) and the destination, which
// proxyplus leaves to the operator's sink (the destination ARN is kept for round trips only).
type AccessLogSettings struct {
	Format         string `json:"format,omitempty"`
	DestinationARN string `json:"destinationArn,omitempty"`
}

// AccessLogPart is one piece of a parsed format: literal text, or a $context variable's name without
// "$context." (e.g. "requestId", "identity.sourceIp", "authorizer.principalId").
type AccessLogPart struct {
	Literal  string
	Variable string
}

// MaxAccessLogFormat is API Gateway's limit on an access-log format's length (3 KB).
const MaxAccessLogFormat = 3 * 1024

// AccessLogVariables are the $context variables proxyplus can log; authorizer.<key> stands for every
// authorizer.* variable.
var AccessLogVariables = []string{
	"requestId", "extendedRequestId", "requestTime", "requestTimeEpoch", "httpMethod", "resourcePath", "path",
	"protocol", "status", "responseLength", "responseLatency", "integrationLatency", "integration.latency",
	"integration.status", "integrationStatus", "identity.sourceIp", "identity.userAgent", "stage", "apiId",
	"domainName", "error.message", "error.responseType", "xrayTraceId", "deploymentId", "authorizer.<key>",
	// Always "-": IAM callers are not authenticated by proxyplus.
	"identity.caller", "identity.user", "identity.cognitoIdentityId", "identity.accountId",
}

var contextVarRE = regexp.MustCompile(`\$context\.[A-Za-z0-9_.]*[A-Za-z0-9_]`)

// ParseAccessLogFormat splits an access-log format into literal text and $context variables. An unknown variable,
// a format over 3 KB or one without $context.requestId or $context.extendedRequestId (API Gateway requires one)
// is an error naming what is wrong.
func ParseAccessLogFormat(format string) ([]AccessLogPart, error) {
	if len(format) > MaxAccessLogFormat {
		return nil, fmt.Errorf("access log format is %d bytes; API Gateway allows %d", len(format), MaxAccessLogFormat)
	}
	var parts []AccessLogPart
	hasID := false
	last := 0
	for _, m := range contextVarRE.FindAllStringIndex(format, -1) {
		name := format[m[0]+len("$context.") : m[1]]
		if !knownAccessLogVariable(name) {
			return nil, fmt.Errorf("access log format: unknown variable $context.%s at offset %d (proxyplus logs %s)",
				name, m[0], strings.Join(AccessLogVariables, ", "))
		}
		hasID = hasID || name == "requestId" || name == "extendedRequestId"
		if m[0] > last {
			parts = append(parts, AccessLogPart{Literal: format[last:m[0]]})
		}
		parts = append(parts, AccessLogPart{Variable: name})
		last = m[1]
	}
	if last < len(format) {
		parts = append(parts, AccessLogPart{Literal: format[last:]})
	}
	if !hasID {
		return nil, fmt.Errorf("access log format must contain $context.requestId or $context.extendedRequestId")
	}
	return parts, nil
}

func knownAccessLogVariable(name string) bool {
	if k, ok := strings.CutPrefix(name, "authorizer."); ok && k != "" {
		return true
	}
	for _, v := range AccessLogVariables {
		if v == name {
			return true
		}
	}
	return false
}

// ParseAccessLogSink reads a sink as the command line gives it: stdout, off, file:PATH, otel:CLUSTER or
// grpc:CLUSTER (CLUSTER a cluster of Envoy's bootstrap).
func ParseAccessLogSink(s string) (*AccessLogSink, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch {
	case (kind == AccessLogStdout || kind == AccessLogOff) && arg == "":
		return &AccessLogSink{Kind: kind}, nil
	case kind == AccessLogFile && arg != "":
		return &AccessLogSink{Kind: kind, Path: arg}, nil
	case (kind == AccessLogOTel || kind == AccessLogGRPC) && arg != "":
		return &AccessLogSink{Kind: kind, Cluster: arg}, nil
	}
	return nil, fmt.Errorf("access log sink %q: want stdout, off, file:PATH, otel:CLUSTER or grpc:CLUSTER", s)
}
