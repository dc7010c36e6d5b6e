package evaluator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

// Substitution formatter ("command operators") used by *_headers_to_add values and by
// local reply body formats.
//
// Parsing follows Envoy's SubstitutionFormatParser
// (source/common/formatter/substitution_formatter.cc): "%%" is a literal "%"; any other
// "%" must start a command matching ^%([A-Z]|[0-9]|_)+(\([^\)]*\))?(:[0-9]+)?% or the
// configuration is rejected ("Couldn't find valid command at position N"); an unknown
// command is rejected too. Header values are parsed with omit_empty_values=true
// (HeadersToAddEntry in source/common/router/header_parser.cc calls
// FormatterImpl::create(value, true)), so an operator without a value renders as "" and a
// header whose whole value renders as "" is not added (unless keep_empty_value).
// Local reply formats render a missing value as "-" unless omit_empty_values.
//
// Operators (docs "Custom request/response headers" in
// docs/root/configuration/http/http_conn_man/headers.rst and access log "Command
// operators"):
//   - %REQ(name[?alt])[:N]%, %RESP(name[?alt])[:N]%: first value of the header (only
//     header[0] is used, HeaderFormatter::findHeader in
//     source/common/formatter/http_specific_formatter.cc), alt when name is absent, cut
//     to N bytes;
//   - %UNIQUE_ID%: a fresh UUID per evaluation (the evaluator's UUID source);
//   - %DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%: the
//     downstream remote address after XFF processing (the "trusted client address");
//   - local reply formats only: %LOCAL_REPLY_BODY%, %RESPONSE_CODE% (a number in
//     json_format), %RESPONSE_CODE_DETAILS%, %RESPONSE_FLAGS% ("-" when none, as
//     ResponseFlagUtils::toShortString returns).
// Anything else is refused by New.

var commandRE = regexp.MustCompile(`^%([A-Z]|[0-9]|_)+(\([^\)]*\))?(:[0-9]+)?%`)

type opSet int

const (
	opsHeader     opSet = iota // route / vhost / route configuration headers
	opsLocalReply              // local reply body formats and mapper headers_to_add
	opsAccessLog               // HCM access-log formats (accesslog.go)
)

type fmtToken struct {
	literal string
	cmd     string // "" for a literal token
	main    string // REQ/RESP header name (lower case)
	alt     string
	maxLen  int // -1: no limit
}

type formatter struct {
	src    string
	tokens []fmtToken
}

func parseFormat(s string, ops opSet) (*formatter, error) {
	f := &formatter{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.tokens = append(f.tokens, fmtToken{literal: lit.String(), maxLen: -1})
			lit.Reset()
		}
	}
	for pos := 0; pos < len(s); pos++ {
		c := s[pos]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if pos+1 < len(s) && s[pos+1] == '%' {
			lit.WriteByte('%')
			pos++
			continue
		}
		flush()
		m := commandRE.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			return nil, fmt.Errorf("format %q: couldn't find valid command at position %d", s, pos)
		}
		whole := s[pos : pos+m[1]]
		tok, err := parseCommand(whole[1:len(whole)-1], ops)
		if err != nil {
			return nil, fmt.Errorf("format %q: %w", s, err)
		}
		f.tokens = append(f.tokens, tok)
		pos += m[1] - 1
	}
	flush()
	return f, nil
}

func parseCommand(cmd string, ops opSet) (fmtToken, error) {
	t := fmtToken{maxLen: -1}
	if i := strings.LastIndex(cmd, ":"); i >= 0 && !strings.Contains(cmd[i:], ")") {
		n, err := strconv.Atoi(cmd[i+1:])
		if err != nil {
			return t, fmt.Errorf("bad length in %%%s%%", cmd)
		}
		t.maxLen = n
		cmd = cmd[:i]
	}
	args, hasArgs := "", false
	if i := strings.IndexByte(cmd, '('); i >= 0 {
		args, hasArgs = cmd[i+1:len(cmd)-1], true
		cmd = cmd[:i]
	}
	t.cmd = cmd
	switch cmd {
	case "REQ", "RESP":
		if !hasArgs || args == "" {
			return t, fmt.Errorf("%%%s%% requires a header name", cmd)
		}
		parts := strings.Split(args, "?")
		if len(parts) > 2 {
			return t, fmt.Errorf("more than 1 alternative header specified in %%%s(%s)%%", cmd, args)
		}
		t.main = strings.ToLower(parts[0])
		if len(parts) == 2 {
			t.alt = strings.ToLower(parts[1])
		}
		return t, nil
	case "UNIQUE_ID", "DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
	case "RESPONSE_CODE", "RESPONSE_CODE_DETAILS", "RESPONSE_FLAGS":
		if ops == opsHeader {
			return t, &notModelled{what: "command operator %" + cmd + "% outside local_reply_config"}
		}
	case "LOCAL_REPLY_BODY":
		if ops != opsLocalReply {
			return t, &notModelled{what: "command operator %" + cmd + "% outside local_reply_config"}
		}
	case "START_TIME", "DURATION", "RESPONSE_DURATION", "BYTES_SENT", "PROTOCOL", "DYNAMIC_METADATA", "METADATA", "TRACE_ID":
		if ops != opsAccessLog {
			return t, &notModelled{what: "command operator %" + cmd + "% outside access logs"}
		}
		return parseAccessLogCommand(t, args, hasArgs)
	default:
		return t, &notModelled{what: "command operator %" + cmd + "%"}
	}
	if hasArgs || t.maxLen >= 0 {
		return t, fmt.Errorf("%%%s%% takes no parameters or length", cmd)
	}
	return t, nil
}

// notModelled marks a configuration Envoy accepts but the evaluator does not implement.
type notModelled struct{ what string }

func (n *notModelled) Error() string { return n.what + " is not modelled by the evaluator" }

// fmtCtx carries what the operators read.
type fmtCtx struct {
	req, resp  *headerMap
	uuid       func() string
	remoteAddr string // trusted client address, host[:port]
	body       string
	code       int
	flags      string
	details    string
	log        *logCtx // access logs only
}

// value evaluates one command token; ok=false means "no value" (null).
func (t *fmtToken) value(c *fmtCtx) (any, bool, error) {
	switch t.cmd {
	case "REQ", "RESP":
		m := c.req
		if t.cmd == "RESP" {
			m = c.resp
		}
		if m == nil {
			return nil, false, nil
		}
		v, ok := m.first(t.main)
		if !ok && t.alt != "" {
			v, ok = m.first(t.alt)
		}
		if !ok {
			return nil, false, nil
		}
		if t.maxLen >= 0 && len(v) > t.maxLen {
			v = v[:t.maxLen]
		}
		return v, true, nil
	case "UNIQUE_ID":
		return c.uuid(), true, nil
	case "DOWNSTREAM_REMOTE_ADDRESS":
		if _, _, err := net.SplitHostPort(c.remoteAddr); err != nil {
			return nil, false, fmt.Errorf("%%DOWNSTREAM_REMOTE_ADDRESS%% needs Request.RemoteAddr with a port, got %q", c.remoteAddr)
		}
		return c.remoteAddr, true, nil
	case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
		if c.remoteAddr == "" {
			return nil, false, fmt.Errorf("%%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%% needs Request.RemoteAddr")
		}
		return hostOnly(c.remoteAddr), true, nil
	case "LOCAL_REPLY_BODY":
		return c.body, true, nil
	case "RESPONSE_CODE":
		return c.code, true, nil
	case "RESPONSE_CODE_DETAILS":
		if c.details == "" {
			return nil, false, nil
		}
		return c.details, true, nil
	case "RESPONSE_FLAGS":
		if c.flags == "" {
			return "-", true, nil
		}
		return c.flags, true, nil
	}
	if c.log != nil {
		return t.logValue(c)
	}
	return nil, false, fmt.Errorf("unknown command %q", t.cmd)
}

// text renders the format as a string; a missing value renders as "" when omitEmpty,
// else "-".
func (f *formatter) text(c *fmtCtx, omitEmpty bool) (string, error) {
	var b strings.Builder
	for i := range f.tokens {
		t := &f.tokens[i]
		if t.cmd == "" {
			b.WriteString(t.literal)
			continue
		}
		v, ok, err := t.value(c)
		if err != nil {
			return "", err
		}
		switch {
		case !ok && omitEmpty:
		case !ok:
			b.WriteString("-")
		default:
			b.WriteString(fmt.Sprint(v))
		}
	}
	return b.String(), nil
}

// typed renders a json_format string value: a value made of exactly one operator keeps
// its type (SubstitutionFormatString.json_format: "Values are rendered as strings,
// numbers, or boolean values as appropriate"), anything else is a string.
func (f *formatter) typed(c *fmtCtx, omitEmpty bool) (any, bool, error) {
	if len(f.tokens) == 1 && f.tokens[0].cmd != "" {
		v, ok, err := f.tokens[0].value(c)
		if err != nil || !ok {
			return nil, false, err
		}
		return v, true, nil
	}
	s, err := f.text(c, omitEmpty)
	return s, true, err
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

// jsonFormat is a compiled SubstitutionFormatString.json_format.
type jsonFormat struct {
	fields map[string]any // *formatter, *jsonFormat, or a literal (float64, bool, nil)
}

func compileJSONFormat(s *structpb.Struct, ops opSet) (*jsonFormat, error) {
	jf := &jsonFormat{fields: map[string]any{}}
	for k, v := range s.GetFields() {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			f, err := parseFormat(x.StringValue, ops)
			if err != nil {
				return nil, err
			}
			jf.fields[k] = f
		case *structpb.Value_StructValue:
			sub, err := compileJSONFormat(x.StructValue, ops)
			if err != nil {
				return nil, err
			}
			jf.fields[k] = sub
		case *structpb.Value_NumberValue:
			jf.fields[k] = x.NumberValue
		case *structpb.Value_BoolValue:
			jf.fields[k] = x.BoolValue
		case *structpb.Value_NullValue:
			jf.fields[k] = nil
		default:
			return nil, &notModelled{what: fmt.Sprintf("json_format value of kind %T (key %q)", x, k)}
		}
	}
	return jf, nil
}

func (jf *jsonFormat) eval(c *fmtCtx, omitEmpty bool) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range jf.fields {
		switch x := v.(type) {
		case *formatter:
			val, ok, err := x.typed(c, omitEmpty)
			if err != nil {
				return nil, err
			}
			if !ok {
				if omitEmpty {
					continue
				}
				val = nil
			}
			out[k] = val
		case *jsonFormat:
			sub, err := x.eval(c, omitEmpty)
			if err != nil {
				return nil, err
			}
			if omitEmpty && len(sub) == 0 {
				continue
			}
			out[k] = sub
		default:
			out[k] = x
		}
	}
	return out, nil
}

// render serialises as Envoy's JSON formatter does: compact, properties sorted (the
// deprecated JsonFormatOptions.sort_properties says "the properties are always sorted"),
// followed by a newline (the JSON formatter appends '\n'; see the comment in
// Utility::prepareLocalReply in source/common/http/utility.cc that strips it for gRPC).
func (jf *jsonFormat) render(c *fmtCtx, omitEmpty bool) (string, error) {
	m, err := jf.eval(c, omitEmpty)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := writeSortedJSON(&buf, m); err != nil {
		return "", err
	}
	buf.WriteByte('\n')
	return buf.String(), nil
}

func writeSortedJSON(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeSortedJSON(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeSortedJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	default:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return err
		}
		buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
		return nil
	}
}
