package mappingtemplate

import (
	"errors"
	"testing"
)

// FuzzTemplate: any template and body parse or fail with a *SyntaxError, and evaluate within the limits or fail
// with a *RuntimeError or *LimitError — never a panic, never more output than the limit. Run with
//
//	go test ./mappingtemplate -run '^$' -fuzz FuzzTemplate -fuzztime 2m
func FuzzTemplate(f *testing.F) {
	for _, c := range constructs {
		f.Add(c.src, []byte(`{"a": [1, {"b": "x"}], "s": "{\"k\": 1}"}`))
	}
	f.Add(template2KB, bench2KBInput().Body)
	for _, s := range []string{
		`{"statusCode": 200}`,
		"{\n  #if( $input.params('scope') == \"internal\" )\n    \"statusCode\": 200\n  #else\n    \"statusCode\": 500\n  #end\n}",
		`{"message":$context.error.messageString,"type":"$context.error.responseType"}`,
		`#macro(m $a)$a#end#m(1) #include('x') $util.nope() $input.json('$[?(@.a)]')`,
		`#set($m = {})#set($x = $m.put("self", $m))$m`,
		`#set($context.responseOverride.status = 404)#set($context.requestOverride.header.X-A = $input.body)$context.responseOverride`,
		`#set($r = [-9223372036854775808..9223372036854775807])`,
		`#foreach($i in [1..1000])#foreach($j in [1..1000])$i#end#end`,
		`\\\$a \#if \\#end ## c` + "\n" + `#* x *# #[[ y ]]# ${a.b(1, 'c', [1..2], {"k": $v})[0]}`,
	} {
		f.Add(s, []byte(`{"items": [{"id": 1}]}`))
	}
	lim := Limits{MaxOutputBytes: 64 << 10, MaxSteps: 20_000, MaxForeachIterations: 1000, MaxDepth: 32, MaxValueBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, src string, body []byte) {
		if len(src) > 8<<10 || len(body) > 8<<10 {
			return
		}
		tp, err := Parse("fuzz", src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error %T %v, want *SyntaxError", err, err)
			}
			if se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("bad position %v", se.Pos)
			}
			return
		}
		_ = tp.Unsupported()
		in := &Input{
			Body:           body,
			PathParams:     map[string]string{"id": "42"},
			QueryParams:    map[string]string{"q": "x y"},
			Headers:        map[string]string{"Accept": "application/json"},
			StageVariables: map[string]string{"v": "1"},
			Context:        map[string]string{"stage": "prod", "identity.sourceIp": "192.0.2.1", "error.message": "m"},
		}
		out, _, err := tp.RenderOverrides(nil, in, lim)
		if err != nil {
			var re *RuntimeError
			var le *LimitError
			if !errors.As(err, &re) && !errors.As(err, &le) {
				t.Fatalf("Render error %T %v", err, err)
			}
		}
		if len(out) > lim.MaxOutputBytes {
			t.Fatalf("output %d bytes > limit %d", len(out), lim.MaxOutputBytes)
		}
		sub, err := ParseSubstitution("fuzz", src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Render(in); err != nil {
			t.Fatalf("substitution: %v", err)
		}
	})
}
