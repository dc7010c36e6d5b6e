// Package authorizer runs API Gateway Lambda authorizers (TOKEN and REQUEST) for the processor: identity
// sources and identityValidationExpression, the authorizer event with its method ARN, the result cache, the
// function's answer and IAM policy evaluation, and the gateway's 401/403/500 answers (AUTHORIZERS.md §1-§4).
package authorizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Decision is what a policy says about one method ARN.
type Decision int

const (
	// ImplicitDeny: no statement covers the ARN (DG apigateway-authorization-flow.md Table A: 403).
	ImplicitDeny Decision = iota
	Allow
	// ExplicitDeny: a Deny statement covers the ARN; it wins over every Allow.
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	}
	return "implicit deny"
}

// Policy is an IAM policy document reduced to what execute-api:Invoke evaluation needs. It is immutable once
// parsed, so cached results share it between requests.
type Policy struct {
	statements []statement
}

type statement struct {
	deny bool
	// not is set for NotResource: the statement covers every ARN none of resources matches.
	not       bool
	resources []pattern
}

// pattern is a Resource compiled for matching: the literal chunks between its '*'s.
type pattern struct {
	chunks []chunk
}

type chunk struct {
	text string
	// wild is set when text holds '?'.
	wild bool
}

func compilePattern(p string) pattern {
	parts := strings.Split(p, "*")
	out := pattern{chunks: make([]chunk, len(parts))}
	for i, c := range parts {
		out.chunks[i] = chunk{text: c, wild: strings.IndexByte(c, '?') >= 0}
	}
	return out
}

// match is Match(pattern, s) for the compiled pattern: the first chunk a prefix, the last a suffix, the middle
// ones found leftmost in order (greedy leftmost placement is exact for '*' globs), with strings.Index where a
// chunk has no '?'. Linear in len(s) per chunk, no allocation.
func (p *pattern) match(s string) bool {
	cs := p.chunks
	if len(cs) == 1 {
		return len(s) == len(cs[0].text) && cs[0].equal(s)
	}
	first, last := cs[0], cs[len(cs)-1]
	if len(s) < len(first.text)+len(last.text) || !first.equal(s[:len(first.text)]) || !last.equal(s[len(s)-len(last.text):]) {
		return false
	}
	s = s[len(first.text) : len(s)-len(last.text)]
	for _, c := range cs[1 : len(cs)-1] {
		i := c.index(s)
		if i < 0 {
			return false
		}
		s = s[i+len(c.text):]
	}
	return true
}

// equal compares a chunk with a string of its length, '?' matching any byte.
func (c chunk) equal(s string) bool {
	if !c.wild {
		return c.text == s
	}
	for i := 0; i < len(s); i++ {
		if c.text[i] != '?' && c.text[i] != s[i] {
			return false
		}
	}
	return true
}

// index is the first position of the chunk in s, or -1.
func (c chunk) index(s string) int {
	if !c.wild {
		return strings.Index(s, c.text)
	}
	for i := 0; i+len(c.text) <= len(s); i++ {
		if c.equal(s[i : i+len(c.text)]) {
			return i
		}
	}
	return -1
}

// maxStatements and maxResources bound a policy's evaluation cost whatever the function returns.
const (
	maxStatements = 1000
	maxResources  = 1000
)

// ParsePolicy reads a policyDocument (DG api-gateway-lambda-authorizer-output.md): Statement is one object or a
// list; Effect Allow or Deny; Action and Resource (or NotResource) a string or a list. Statements whose actions
// cannot cover execute-api:Invoke are dropped.
func ParsePolicy(doc json.RawMessage) (*Policy, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("policyDocument: %w", err)
	}
	stmts := d["Statement"]
	if len(stmts) == 0 || string(stmts) == "null" {
		return nil, errors.New("policyDocument has no Statement")
	}
	var raw []json.RawMessage
	if stmts[0] == '[' {
		if err := json.Unmarshal(stmts, &raw); err != nil {
			return nil, fmt.Errorf("policyDocument.Statement: %w", err)
		}
	} else {
		raw = []json.RawMessage{stmts}
	}
	if len(raw) > maxStatements {
		return nil, fmt.Errorf("policyDocument has %d statements, more than %d", len(raw), maxStatements)
	}
	p := &Policy{statements: make([]statement, 0, len(raw))}
	total := 0
	for i, r := range raw {
		// Element names are matched exactly (encoding/json's struct fields would also take "effect").
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, fmt.Errorf("policyDocument.Statement[%d]: %w", i, err)
		}
		s := struct{ Action, NotAction, Resource, NotResource json.RawMessage }{m["Action"], m["NotAction"], m["Resource"], m["NotResource"]}
		var effect string
		if err := json.Unmarshal(m["Effect"], &effect); m["Effect"] != nil && err != nil {
			return nil, fmt.Errorf("policyDocument.Statement[%d].Effect: %w", i, err)
		}
		st := statement{}
		switch effect {
		case "Allow":
		case "Deny":
			st.deny = true
		default:
			return nil, fmt.Errorf("policyDocument.Statement[%d].Effect %q is neither Allow nor Deny", i, effect)
		}
		actionCovers := false
		switch {
		case s.Action != nil:
			actions, err := stringOrList(s.Action)
			if err != nil {
				return nil, fmt.Errorf("policyDocument.Statement[%d].Action: %w", i, err)
			}
			for _, a := range actions {
				// Action names are case-insensitive in IAM.
				actionCovers = actionCovers || Match(strings.ToLower(a), "execute-api:invoke")
			}
		case s.NotAction != nil:
			actions, err := stringOrList(s.NotAction)
			if err != nil {
				return nil, fmt.Errorf("policyDocument.Statement[%d].NotAction: %w", i, err)
			}
			actionCovers = true
			for _, a := range actions {
				actionCovers = actionCovers && !Match(strings.ToLower(a), "execute-api:invoke")
			}
		default:
			return nil, fmt.Errorf("policyDocument.Statement[%d] has no Action", i)
		}
		res := s.Resource
		if res == nil {
			res, st.not = s.NotResource, true
		}
		if res == nil {
			return nil, fmt.Errorf("policyDocument.Statement[%d] has no Resource", i)
		}
		list, err := stringOrList(res)
		if err != nil {
			return nil, fmt.Errorf("policyDocument.Statement[%d].Resource: %w", i, err)
		}
		if total += len(list); total > maxResources {
			return nil, fmt.Errorf("policyDocument has more than %d resources", maxResources)
		}
		if actionCovers {
			st.resources = make([]pattern, len(list))
			for j, r := range list {
				st.resources[j] = compilePattern(r)
			}
			p.statements = append(p.statements, st)
		}
	}
	return p, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '[' {
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, err
		}
		return l, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// Evaluate decides execute-api:Invoke on methodARN: an explicit Deny wins, else any Allow allows, else the
// implicit deny. It allocates nothing.
func (p *Policy) Evaluate(methodARN string) Decision {
	d := ImplicitDeny
	for i := range p.statements {
		st := &p.statements[i]
		covered := false
		for j := range st.resources {
			if st.resources[j].match(methodARN) {
				covered = true
				break
			}
		}
		if covered == st.not {
			continue
		}
		if st.deny {
			return ExplicitDeny
		}
		d = Allow
	}
	return d
}

// Match reports whether s matches pattern, where '*' matches any run of characters ('/' and ':' included) and
// '?' any one character, as IAM matches Resource ARNs (DG api-gateway-control-access-using-iam-policies-to-
// invoke-api.md). Byte-wise, iterative (no backtracking blow-up: O(len(pattern)·len(s)) at worst), no
// allocation. Policies evaluate with the compiled form (pattern.match), which the fuzz tests hold equal to this.
func Match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
