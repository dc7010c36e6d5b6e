package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/proxyplus/proxyplus/testinvoke/output"
)

// Check compares what test-invoke made of a case's request (as the CLI prints it) with the case's expectations
// under the README's matching rules, and returns every difference.
func Check(c *Case, got *output.Result) []string { return CheckExpect(c, &c.Expect, got) }

// CheckExpect is Check against one expectation of the case (one of expects: for a sequence of requests).
func CheckExpect(c *Case, exp *Expect, got *output.Result) []string {
	var problems []string
	if exp.Route != nil {
		problems = append(problems, checkRoute(exp.Route, got.Route)...)
	}
	if exp.Response != nil {
		problems = append(problems, checkResponse(exp.Response, got.Response)...)
	}
	problems = append(problems, checkAuthorizer(c, exp, got)...)
	if exp.Upstream != nil {
		if got.Integration == nil || got.Integration.Request == nil {
			return append(problems, fmt.Sprintf("want an upstream request, got integration %+v response %+v", got.Integration, got.Response))
		}
		problems = append(problems, checkUpstream(exp.Upstream, got.Integration.Request)...)
	}
	if exp.Event != nil || exp.EventAbsentHeaders != nil {
		if got.Integration == nil || got.Integration.Event == nil {
			return append(problems, fmt.Sprintf("want a Lambda event, got integration %+v", got.Integration))
		}
		problems = append(problems, checkEvent(exp, got.Integration.Event)...)
	}
	return problems
}

// checkAuthorizer checks the authorizer expectations (README additions 2026-12-06): the number of authorizer
// calls, the authorizer's event, and — for a case with functions: but no functionResponse and no event — that
// the integration was not called.
func checkAuthorizer(c *Case, exp *Expect, got *output.Result) []string {
	var problems []string
	calls := 0
	var event json.RawMessage
	if got.Authorizer != nil {
		calls, event = got.Authorizer.Calls, got.Authorizer.Event
	}
	if exp.AuthorizerCalls != nil && *exp.AuthorizerCalls != calls {
		problems = append(problems, fmt.Sprintf("authorizer calls: want %d, got %d", *exp.AuthorizerCalls, calls))
	}
	if exp.AuthorizerEvent != nil {
		var want, ev map[string]any
		if err := json.Unmarshal(exp.AuthorizerEvent, &want); err != nil {
			return append(problems, fmt.Sprintf("expect.authorizerEvent: %v", err))
		}
		if len(event) == 0 || string(event) == "null" {
			return append(problems, "want an authorizer event, the authorizer was not called")
		}
		if err := json.Unmarshal(event, &ev); err != nil {
			return append(problems, fmt.Sprintf("authorizer event is not a JSON object: %v: %s", err, event))
		}
		lowerHeaderKeys(want)
		lowerHeaderKeys(ev)
		if d := MatchJSON("authorizerEvent", want, ev); d != "" {
			problems = append(problems, fmt.Sprintf("%s\nauthorizer event: %s", d, event))
		}
	}
	if len(c.Functions) > 0 && c.FunctionResponse == nil && exp.Event == nil && got.Integration != nil && got.Integration.Event != nil {
		problems = append(problems, "the integration was called; the case expects it not to be")
	}
	return problems
}

// checkEvent compares the event with the expectation (README matching rules: header names case-insensitive).
func checkEvent(exp *Expect, event json.RawMessage) []string {
	var got map[string]any
	if err := json.Unmarshal(event, &got); err != nil {
		return []string{fmt.Sprintf("event is not a JSON object: %v: %s", err, event)}
	}
	var problems []string
	if exp.Event != nil {
		var want map[string]any
		if err := json.Unmarshal(exp.Event, &want); err != nil {
			return []string{fmt.Sprintf("expect.event: %v", err)}
		}
		lowerHeaderKeys(want)
		lowerHeaderKeys(got)
		if d := MatchJSON("event", want, got); d != "" {
			problems = append(problems, fmt.Sprintf("%s\nevent: %s", d, event))
		}
	}
	headers, _ := got["headers"].(map[string]any)
	for _, name := range exp.EventAbsentHeaders {
		if _, present := headers[strings.ToLower(name)]; present {
			problems = append(problems, fmt.Sprintf("event.headers has %s, which API Gateway drops", name))
		}
	}
	return problems
}

func lowerHeaderKeys(ev map[string]any) {
	for _, k := range []string{"headers", "multiValueHeaders"} {
		if m, ok := ev[k].(map[string]any); ok {
			low := make(map[string]any, len(m))
			for name, v := range m {
				low[strings.ToLower(name)] = v
			}
			ev[k] = low
		}
	}
}

func checkRoute(want json.RawMessage, got *output.RouteRef) []string {
	if string(want) == "null" {
		if got != nil {
			return []string{fmt.Sprintf("route: want none, got %+v", *got)}
		}
		return nil
	}
	var w output.RouteRef
	if err := json.Unmarshal(want, &w); err != nil {
		return []string{fmt.Sprintf("expect.route: %v", err)}
	}
	if got == nil || *got != w {
		return []string{fmt.Sprintf("route: want %+v, got %+v", w, got)}
	}
	return nil
}

func checkResponse(want *Response, got *output.Message) []string {
	if got == nil {
		return []string{"want a response, got none"}
	}
	var problems []string
	if want.StatusCode != nil && *want.StatusCode != got.StatusCode {
		problems = append(problems, fmt.Sprintf("status: want %d, got %d", *want.StatusCode, got.StatusCode))
	}
	problems = append(problems, MatchHeaders("response", want.Headers, got.Headers)...)
	body := []byte(got.Body)
	if got.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(got.Body)
		if err != nil {
			return append(problems, fmt.Sprintf("response body marked base64 is not: %v", err))
		}
		body = b
	}
	if want.Body != nil && *want.Body != string(body) {
		problems = append(problems, fmt.Sprintf("body: want %q, got %q", *want.Body, body))
	}
	if want.BodyBase64 != nil {
		if w, err := base64.StdEncoding.DecodeString(*want.BodyBase64); err != nil || string(w) != string(body) {
			problems = append(problems, fmt.Sprintf("body: want base64 %s, got %s", *want.BodyBase64, base64.StdEncoding.EncodeToString(body)))
		}
	}
	if want.BodyJSON != nil {
		var w, g any
		if err := json.Unmarshal(want.BodyJSON, &w); err != nil {
			return append(problems, fmt.Sprintf("expect.response.bodyJson: %v", err))
		}
		if err := json.Unmarshal(body, &g); err != nil {
			return append(problems, fmt.Sprintf("body %q is not JSON: %v", body, err))
		}
		if d := MatchJSON("body", w, g); d != "" {
			problems = append(problems, d)
		}
	}
	return problems
}

func checkUpstream(want *Upstream, got *output.Message) []string {
	var problems []string
	if want.Method != nil && *want.Method != got.Method {
		problems = append(problems, fmt.Sprintf("upstream method: want %s, got %s", *want.Method, got.Method))
	}
	gotURL := got.URL
	if want.Query != nil {
		u, err := url.Parse(got.URL)
		if err != nil {
			return append(problems, fmt.Sprintf("upstream url %q: %v", got.URL, err))
		}
		if q := u.Query(); !reflect.DeepEqual(map[string][]string(q), want.Query) {
			problems = append(problems, fmt.Sprintf("upstream query: want %v, got %v", want.Query, q))
		}
		gotURL, _, _ = strings.Cut(got.URL, "?")
	}
	if want.URL != nil && *want.URL != gotURL {
		problems = append(problems, fmt.Sprintf("upstream url: want %s, got %s", *want.URL, gotURL))
	}
	problems = append(problems, MatchHeaders("upstream", want.Headers, got.Headers)...)
	if want.Body != nil && *want.Body != got.Body {
		problems = append(problems, fmt.Sprintf("upstream body: want %q, got %q", *want.Body, got.Body))
	}
	return problems
}
