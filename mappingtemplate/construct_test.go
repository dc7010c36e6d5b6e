package mappingtemplate

import (
	"errors"
	"strings"
	"testing"
)

// Sources cited below:
//   DG-REF   = AWS API Gateway developer guide, awsdocs/amazon-api-gateway-developer-guide@401d9df
//              doc_source/api-gateway-mapping-template-reference.md ($input, $context, $util, $stageVariables)
//   DG-MAP   = doc_source/models-mappings.md (the pets mapping template and its output)
//   DG-MOCK  = doc_source/how-to-mock-integration-console.md (the scope=internal request template)
//   DG-GWR   = doc_source/api-gateway-swagger-extensions-gateway-responses.responseTemplates.md (substitution only)
//   VTL17    = Apache Velocity 1.7 Parser.jjt (lexer rules: RPAREN/END/ELSE eat one newline, SET_DIRECTIVE eats the
//              spaces before it, string literals, escapes) and the 1.7 user guide (quiet references, #foreach,
//              $velocityCount, literals, operators); API Gateway runs Velocity 1.7.
//   LS       = LocalStack's AWS-validated template_mapping.py (localstack/localstack, next_gen/execute_api):
//              $input.params('x') is "" when absent; an empty body reads as {}; JSON lists render as JSON.
//   CASE x   = ../shared/conformance/cases/mock-cors/x.yaml

type construct struct {
	name, source string
	src          string
	in           *Input
	want         string
}

var petsBody = []byte(`[{"id": 1, "type": "dog", "price": 249.99}, {"id": 2, "type": "cat", "price": 124.99}, {"id": 3, "type": "fish", "price": 0.99}]`)

var constructs = []construct{
	// Text and references.
	{"static JSON", "CASE mock-static-json-template", `{"statusCode": 200}`, nil, `{"statusCode": 200}`},
	{"undefined reference stays", "VTL17 user guide: undefined references render as written", `a $foo b`, nil, `a $foo b`},
	{"undefined formal reference stays", "VTL17", `${foo}x`, nil, `${foo}x`},
	{"undefined property stays", "VTL17", `$context.nothere`, &Input{Context: map[string]string{"stage": "p"}}, `$context.nothere`},
	{"quiet reference", "VTL17 quiet reference notation", `[$!foo][$!{foo}]`, nil, `[][]`},
	{"formal reference", "VTL17", `#set($a = "x")${a}y`, nil, `xy`},
	{"dollar without identifier is text", "VTL17 EMPTY_INDEX/DOLLAR", `$ 5 $. $[ $1`, nil, `$ 5 $. $[ $1`},
	{"hyphen in identifier", "VTL17 IDENTIFIER_CHAR includes -", `#set($a-b = 1)$a-b`, nil, `1`},
	{"dot before non-letter is text", "VTL17 DOT needs a letter", `#set($a = 1)$a.`, nil, `1.`},

	// #set and strings.
	{"set string", "VTL17", `#set($a = "x")$a`, nil, `x`},
	{"double quotes interpolate", "VTL17 string interpolation", `#set($b = "B")#set($a = "v$b")$a`, nil, `vB`},
	{"single quotes do not", "VTL17", `#set($b = "B")#set($a = 'v$b')$a`, nil, `v$b`},
	{"interpolated undefined stays", "VTL17", `#set($a = "x$nope")$a`, nil, `x$nope`},
	{"unicode escapes in literals, other backslashes kept", "VTL17 ASTStringLiteral", `#set($a = "\u0041\n")$a`, nil, `A\n`},
	{"doubled quotes", "VTL17 (1.7 replaces doubled quotes)", `#set($a = 'it''s')$a`, nil, `it's`},
	{"set null removes", "VTL17 #set with a null right-hand side", `#set($a = 1)#set($a = $nope)$a`, nil, `$a`},
	{"set map property", "VTL17", `#set($m = {})#set($m.k = "v")$m.k`, nil, `v`},

	// Whitespace (VTL17 lexer).
	{"set eats its line", "VTL17 SET_DIRECTIVE + RPAREN", "#set($a = 1)\n#set($b = 2)\n$a$b", nil, "12"},
	{"set eats leading indentation", "VTL17 SET_DIRECTIVE (\" \"|\"\\t\")*", "  #set($a = 1)\n  x$a", nil, "  x1"},
	{"set keeps spaces after text", "VTL17: TEXT token takes the run", "x  #set($a = 1)y", nil, "x  y"},
	{"if eats newline after )", "VTL17 RPAREN", "#if(true)\n  a\n#end\nb", nil, "  a\nb"},
	{"indentation before if stays", "VTL17: directives render preceding whitespace", "  #if(true)\na\n  #end\nb", nil, "  a\n  b"},
	{"else eats newline", "VTL17 ELSE_DIRECTIVE", "#if(false)\nx\n#else\ny\n#end\n", nil, "y\n"},
	{"mock console template", "DG-MOCK (scope=internal)", "{\n  #if( $input.params('scope') == \"internal\" )\n    \"statusCode\": 200\n  #else\n    \"statusCode\": 500\n  #end\n}",
		&Input{QueryParams: map[string]string{"scope": "internal"}}, "{\n      \"statusCode\": 200\n  }"},
	{"mock console template, public", "DG-MOCK (scope=public)", "{\n  #if( $input.params('scope') == \"internal\" )\n    \"statusCode\": 200\n  #else\n    \"statusCode\": 500\n  #end\n}",
		&Input{QueryParams: map[string]string{"scope": "public"}}, "{\n      \"statusCode\": 500\n  }"},

	// #if / #elseif / #else and expressions.
	{"elseif", "VTL17", `#set($n = 2)#if($n == 1)one#elseif($n == 2)two#else other#end`, nil, `two`},
	{"formal else/end", "VTL17 {else} {end}", `#if(false)a#{else}b#{end}c`, nil, `bc`},
	{"null is false", "VTL17", `#if($nope)y#else n#end`, nil, ` n`},
	{"empty string is true in 1.7", "VTL17 (only null and false are false)", `#if("")y#end#if(0)z#end`, nil, `yz`},
	{"logical operators", "VTL17", `#if(1 < 2 && !(3 >= 4) || false)y#end#if(1 lt 2 and not false)z#end`, nil, `yz`},
	{"comparisons", "VTL17", `#if(2 > 1)a#end#if(2 <= 2)b#end#if(2 != 3)c#end#if(2 ge 3)d#end#if(1 eq 1)e#end#if("a" ne "b")f#end`, nil, `abcef`},
	{"== numbers by value, other kinds by string", "VTL17 ASTEQNode", `#if(1 == 1.0)a#end#if("1" == 1)b#end#if("a" == "b")c#end#if($nope == $nope2)d#end#if($nope == 1)e#end`, nil, `abd`},
	{"< on strings is false", "VTL17 ASTLTNode needs numbers", `#if("a" < "b")y#{else}n#end`, nil, `n`},
	{"arithmetic", "VTL17", `#set($a = 7 / 2)#set($b = 7 % 3)#set($c = 2 * 3 - 1 + 4)#set($d = 1.5 * 2)$a $b $c $d`, nil, `3 1 9 3.0`},
	{"string concatenation", "VTL17 ASTAddNode", `#set($s = "a" + 1)$s`, nil, `a1`},
	{"division by zero is null", "VTL17 ASTDivNode", `#set($a = 1)#set($a = 1 / 0)$a`, nil, `$a`},

	// #foreach.
	{"foreach hasNext", "DG-MAP, VTL17", `#foreach($i in [1..3])$i#if($foreach.hasNext),#end#end`, nil, `1,2,3`},
	{"foreach velocityCount", "VTL17 $velocityCount", `#foreach($x in ['a', 'b'])$velocityCount:$x #end`, nil, `1:a 2:b `},
	{"foreach index/count/first/last", "VTL17 $foreach", `#foreach($x in ['a', 'b'])$foreach.index$foreach.count$foreach.first$foreach.last #end`, nil, `01truefalse 12falsetrue `},
	{"foreach over map values", "VTL17 (maps iterate their values)", `#foreach($v in {"a": 1, "b": 2})$v#end`, nil, `12`},
	{"foreach over null", "VTL17", `#foreach($v in $nope)x#end.`, nil, `.`},
	{"foreach restores loop variable", "VTL17 Foreach.render", `#set($x = "o")#foreach($x in [1, 2])#end$x`, nil, `o`},
	{"foreach caps at 1,000", "DG quotas: #foreach iterations 1,000; VTL17 directive.foreach.maxloops",
		`#foreach($i in [1..1500])#set($last = $i)#end$last`, nil, `1000`},
	{"break", "VTL17 #break", `#foreach($i in [1..5])$i#if($i == 3)#break#end#end`, nil, `123`},
	{"nested foreach parent", "VTL17", `#foreach($a in [1, 2])#foreach($b in [3])$foreach.parent.index#end#end`, nil, `01`},
	{"stop", "VTL17 #stop", `a#stop b`, nil, `a`},
	{"pets mapping template", "DG-MAP", "#set($inputRoot = $input.path('$'))\n[\n#foreach($elem in $inputRoot)\n  {\n    \"description\" : \"Item $elem.id is a $elem.type.\",\n    \"askingPrice\" : $elem.price\n  }#if($foreach.hasNext),#end\n\n#end\n]",
		&Input{Body: petsBody},
		"[\n  {\n    \"description\" : \"Item 1 is a dog.\",\n    \"askingPrice\" : 249.99\n  },\n  {\n    \"description\" : \"Item 2 is a cat.\",\n    \"askingPrice\" : 124.99\n  },\n  {\n    \"description\" : \"Item 3 is a fish.\",\n    \"askingPrice\" : 0.99\n  }\n]"},

	// Comments, text blocks, escapes.
	{"line comment eats its newline", "VTL17 SINGLE_LINE_COMMENT", "a## comment\nb", nil, "ab"},
	{"block comments", "VTL17", "a#* x\ny *#b#** doc *#c", nil, "abc"},
	{"text block", "VTL17 #[[ ]]#", `#[[$a #if]]#`, nil, `$a #if`},
	{"escaped undefined reference", "VTL17 ASTReference.render", `\$foo`, nil, `\$foo`},
	{"escaped defined reference", "VTL17", `#set($foo = 1)\$foo \\$foo`, nil, `$foo \1`},
	{"escaped directive", "VTL17 ESCAPE_DIRECTIVE", `\#if(x) \#foo`, nil, `#if(x) \#foo`},
	{"backslashes in text", "VTL17", `{"a": "x\"y\n"}`, nil, `{"a": "x\"y\n"}`},
	{"hash that is not a directive", "VTL17 (not a directive: text)", `"color": "#fff" #1 #`, nil, `"color": "#fff" #1 #`},

	// Maps, lists and methods.
	{"map literal", "VTL17 map literal, Java toString", `#set($m = {"a": 1, "b": [true, false]})$m $m.size() $m.a $m.get("b").get(0) $m.keySet() $m.isEmpty() $m.b.contains(false)`, nil,
		`{a=1, b=[true, false]} 2 1 true [a, b] false true`},
	{"list methods", "VTL17", `#set($l = [])#set($x = $l.add("a"))$l.add("b")$l $l.size() $l[1] $l[-1] $l.isEmpty()`, nil, `true[a, b] 2 b b false`},
	{"map put", "VTL17", `#set($m = {})$!m.put("k", "v")$m`, nil, `{k=v}`},
	{"range", "VTL17 [n..m]", `[1..3] [3..1]#set($r = [1..3])$r`, nil, `[1..3] [3..1][1, 2, 3]`},
	{"string methods", "VTL17 / java.lang.String", `#set($s = "Hello")$s.toLowerCase() $s.toUpperCase() $s.length() $s.substring(1, 3) $s.startsWith("He") $s.replaceAll("l+", "L") $s.contains("ell") $s.indexOf("l") $s.replace("l", "1") $s.split("l") $s.trim().isEmpty() $s.charAt(0) $s.matches("H.*") $s.equalsIgnoreCase("hello")`, nil,
		`hello HELLO 5 el true HeLo true 2 He11o [He, , o] false H true true`},
	{"java replacement groups", "java.util.regex replacement", `#set($s = "a-b")$s.replaceAll("(a)-(b)", "$2$1")`, nil, `ba`},
	{"unknown method on a value is null", "VTL17 uberspector", `#set($s = "x")$s.size()`, nil, `$s.size()`},
	{"index notation", "VTL17 index notation", `#set($m = {"k": ["a", "b"]})$m["k"][1] $m.k[0]`, nil, `b a`},
	{"float rendering", "java.lang.Double.toString", `#set($a = 100.0)#set($b = 1.0E10)#set($c = 0.0001)$a $b $c`, nil, `100.0 1.0E10 1.0E-4`},

	// $input.
	{"params by name: path, query, header", "DG-REF $input.params(x), CASE mock-input-params-exact-body", `{"petId": "$input.params('petId')", "q": "$input.params('q')", "h": "$input.params('X-H')"}`,
		&Input{PathParams: map[string]string{"petId": "123"}, QueryParams: map[string]string{"q": "1"}, Headers: map[string]string{"x-h": "v"}},
		`{"petId": "123", "q": "1", "h": "v"}`},
	{"params search order", "DG-REF (path, query string, header)", `$input.params('x')`,
		&Input{PathParams: map[string]string{"x": "p"}, QueryParams: map[string]string{"x": "q"}, Headers: map[string]string{"x": "h"}}, `p`},
	{"missing param is empty", "LS VelocityInput.params", `"$input.params('nope')"`, nil, `""`},
	{"params map", "DG-REF $input.params(), CASE mock-input-params-map-post", `{"statusCode": 200, "id": $input.params().path.id}`,
		&Input{PathParams: map[string]string{"id": "42"}}, `{"statusCode": 200, "id": 42}`},
	{"params map iteration", "DG-REF (the method-request passthrough template)", `#foreach($k in $input.params().header.keySet())$k=$input.params().header.get($k);#end`,
		&Input{Headers: map[string]string{"b": "2", "a": "1"}}, `a=1;b=2;`},
	{"json", "DG-REF $input.json(x)", `$input.json('$') $input.json('$.a') $input.json('$.b[0]') $input.json("$['c']")`,
		&Input{Body: []byte(`{"a": "x", "b": [{"c": 5}], "c": 1.5}`)}, `{"a":"x","b":[{"c":5}],"c":1.5} "x" {"c":5} 1.5`},
	{"json of empty body", "LS (empty body is {})", `$input.json('$')`, &Input{}, `{}`},
	{"path object renders as Java map, lists as JSON", "LS VTLJsonDict/VTLJsonList (AWS-validated)", `$input.path('$')`,
		&Input{Body: []byte(`{"a": 1, "b": [{"c": 5}]}`)}, `{a=1, b=[{"c":5}]}`},
	{"path usable in foreach and size", "DG-REF $input.path(x)", `$input.path('$.items').size() #foreach($i in $input.path('$.items'))$i.id#end $input.path('$.items[*].id') $input.path('$..id')`,
		&Input{Body: []byte(`{"items": [{"id": 1}, {"id": 2}]}`)}, `2 12 [1,2] [1,2]`},
	{"path missing is null", "VTL17 (null renders as source)", `$input.path('$.nope')`, &Input{Body: []byte(`{}`)}, `$input.path('$.nope')`},
	{"body", "DG-REF $input.body", `$input.body`, &Input{Body: []byte(`a=b&c`)}, `a=b&c`},

	// $context and $stageVariables.
	{"context", "DG-REF $context, CASE mock-context-variables-allow-origin", `$context.requestId $context.stage $context.httpMethod $context.resourcePath $context.identity.sourceIp $context.apiId`,
		&Input{Context: map[string]string{"requestId": "r1", "stage": "beta", "httpMethod": "GET", "resourcePath": "/greeting/{name}", "identity.sourceIp": "192.0.2.1", "apiId": "a1"}},
		`r1 beta GET /greeting/{name} 192.0.2.1 a1`},
	{"context error", "DG-REF $context.error.messageString is quoted", `{"message":$context.error.messageString,"m":"$context.error.message","t":"$context.error.responseType"}`,
		&Input{Context: map[string]string{"error.message": "Missing Authentication Token", "error.responseType": "MISSING_AUTHENTICATION_TOKEN"}},
		`{"message":"Missing Authentication Token","m":"Missing Authentication Token","t":"MISSING_AUTHENTICATION_TOKEN"}`},
	{"context sub-object", "DG-REF $context.authorizer.claims", `$context.authorizer.claims.keySet() $context.authorizer.claims['cognito:username']`,
		&Input{Context: map[string]string{"authorizer.claims.sub": "s", "authorizer.claims.cognito:username": "u"}}, `[cognito:username, sub] u`},
	{"stage variables", "DG-REF $stageVariables", `$stageVariables.a $stageVariables['b'] $stageVariables.keySet()`,
		&Input{StageVariables: map[string]string{"a": "1", "b": "2"}}, `1 2 [a, b]`},

	// $util.
	{"escapeJavaScript", "DG-REF $util.escapeJavaScript (Commons Lang escapeJavaScript)", `$util.escapeJavaScript($input.body)`,
		&Input{Body: []byte("He said \"it's\" /x\n\té")}, `He said \"it\'s\" \/x\n\t\u00E9`},
	{"urlEncode/urlDecode", "DG-REF (java.net.URLEncoder)", `$util.urlEncode("a b&c=d/é*~") $util.urlDecode("a+b%26c")`, nil, `a+b%26c%3Dd%2F%C3%A9*%7E a b&c`},
	{"base64", "DG-REF", `$util.base64Encode("hello") $util.base64Decode("aGVsbG8=")`, nil, `aGVsbG8= hello`},
	{"parseJson", "DG-REF $util.parseJson", `#set($o = $util.parseJson($input.path('$.s')))$o.a.b`, &Input{Body: []byte(`{"s": "{\"a\":{\"b\":1}}"}`)}, `1`},
}

func TestConstructs(t *testing.T) {
	for _, c := range constructs {
		t.Run(c.name, func(t *testing.T) {
			tp, err := Parse(c.name, c.src)
			if err != nil {
				t.Fatalf("Parse: %v (source: %s)", err, c.source)
			}
			if is := tp.Unsupported(); len(is) > 0 {
				t.Fatalf("Unsupported: %v", is)
			}
			out, err := tp.Render(c.in)
			if err != nil {
				t.Fatalf("Render: %v (source: %s)", err, c.source)
			}
			if string(out) != c.want {
				t.Errorf("source: %s\ntemplate: %q\n got: %q\nwant: %q", c.source, c.src, out, c.want)
			}
		})
	}
}

// TestSubstitution: gateway-response templates are plain substitution (DG-GWR; MOCK-CORS.md §3).
func TestSubstitution(t *testing.T) {
	in := &Input{
		Context:        map[string]string{"error.message": "Missing Authentication Token", "error.responseType": "MISSING_AUTHENTICATION_TOKEN", "stage": "custErr"},
		StageVariables: map[string]string{"a": "a"},
	}
	for _, c := range []struct{ src, want string }{
		// CASE gateway-missing-token-status-404
		{`{"message":$context.error.messageString,"type":"$context.error.responseType","statusCode":"'404'","stage":"$context.stage","stageVariables.a":"$stageVariables.a"}`,
			`{"message":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN","statusCode":"'404'","stage":"custErr","stageVariables.a":"a"}`},
		// CASE gateway-default-4xx-doc-example: no variables, not JSON, byte for byte.
		{`{"message": test 4xx b }`, `{"message": test 4xx b }`},
		// Not VTL: directives and other references are text; unknown variables stay.
		{`#if(true)x#end $input.body $foo ${context.stage} $context.nope`, `#if(true)x#end $input.body $foo custErr $context.nope`},
	} {
		tp, err := ParseSubstitution("gw", c.src)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tp.Render(in)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.src, out, c.want)
		}
	}
}

func TestSyntaxErrorsNameLineAndColumn(t *testing.T) {
	for _, c := range []struct {
		src  string
		pos  Pos
		frag string
	}{
		{"a\n#if($x)", Pos{2, 1}, "#if without #end"},
		{"x\n  #end", Pos{2, 3}, "#end without"},
		{"#set($a = )", Pos{1, 11}, "unexpected"},
		{"ab ${foo", Pos{1, 4}, "closing }"},
		{"#foreach($a $b)#end", Pos{1, 13}, "'in'"},
		{"#* open", Pos{1, 1}, "unterminated"},
		{`#set($a = "open)`, Pos{1, 11}, "unterminated string"},
		{"#if true", Pos{1, 1}, "(condition)"},
		{"$a.b(", Pos{1, 6}, "unexpected end"},
		{"$a[x]", Pos{1, 3}, "invalid index"},
	} {
		_, err := Parse("t", c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want a *SyntaxError", c.src, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.frag) {
			t.Errorf("%q: got %s %q, want %s containing %q", c.src, se.Pos, se.Msg, c.pos, c.frag)
		}
		if !strings.Contains(err.Error(), c.pos.String()) {
			t.Errorf("%q: message %q does not name %s", c.src, err, c.pos)
		}
	}
}

func TestUnsupportedReportedWithLocation(t *testing.T) {
	src := "#macro(foo $a)x#end\n  #include(\"x\")\n$util.toJson($a) #parse('y')\n#set($context.stage = 'x')\n$input.json('$[?(@.a)]') #foo($x) $input.nope $a.compareTo(1)"
	got := Check("t", src)
	want := []Issue{
		{Pos{1, 1}, "#macro", ""},
		{Pos{2, 3}, "#include", ""},
		{Pos{3, 7}, "$util.toJson", ""},
		{Pos{3, 18}, "#parse", ""},
		{Pos{4, 1}, "#set($context...)", ""},
		{Pos{5, 8}, "JSONPath", ""},
		{Pos{5, 26}, "#foo", ""},
		{Pos{5, 42}, "$input.nope", ""},
		{Pos{5, 50}, ".compareTo()", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d issues, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Pos != want[i].Pos || got[i].Construct != want[i].Construct {
			t.Errorf("issue %d: got %s %s, want %s %s", i, got[i].Pos, got[i].Construct, want[i].Pos, want[i].Construct)
		}
	}
	// Reaching an unsupported construct is an error, never a silent rendering.
	for _, s := range []string{"#include('x')", "$util.toJson($a)", "#macro(m)x#end", "$input.json('$[?(@.a)]')", "#foo($x)", `#set($s = "x")$s.compareTo("y")`, "$input.nope"} {
		tp, err := Parse("t", s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		_, err = tp.Render(&Input{Body: []byte(`{}`)})
		var re *RuntimeError
		if !errors.As(err, &re) || !re.Unsupported {
			t.Errorf("%q: err = %v, want an unsupported *RuntimeError", s, err)
		}
	}
	if is := Check("t", "#if("); len(is) != 1 || is[0].Construct != "syntax" {
		t.Errorf("Check of a syntax error = %v", is)
	}
}

// TestOverrides: assignments into $context.requestOverride / responseOverride (DG
// apigateway-override-request-response-parameters.md, its example
// "#set($context.responseOverride.status = 400)" and header overrides) are returned by RenderOverrides and read back.
func TestOverrides(t *testing.T) {
	src := "#set($context.responseOverride.status = 400)\n" +
		"#set($context.responseOverride.header.X-Error = \"bad $input.params('id')\")\n" +
		"#set($context.requestOverride.header.X-Up = 'u')\n" +
		"#set($context.requestOverride.querystring.q = 1)\n" +
		"#set($context.requestOverride.path.id = '7')\n" +
		"$context.responseOverride.status $context.responseOverride.header.X-Error $context.stage"
	if is := Check("t", src); len(is) > 0 {
		t.Fatalf("Check: %v", is)
	}
	tp, err := Parse("t", src)
	if err != nil {
		t.Fatal(err)
	}
	out, ov, err := tp.RenderOverrides(nil, &Input{PathParams: map[string]string{"id": "3"}, Context: map[string]string{"stage": "prod"}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "400 bad 3 prod" {
		t.Errorf("output %q", out)
	}
	if ov == nil || ov.Status != 400 || ov.ResponseHeaders["X-Error"] != "bad 3" || ov.RequestHeaders["X-Up"] != "u" ||
		ov.RequestQuery["q"] != "1" || ov.RequestPath["id"] != "7" {
		t.Errorf("overrides %+v", ov)
	}
	// No assignment: no overrides.
	if _, ov, _ := tp.RenderOverrides(nil, nil, Limits{}); ov == nil {
		t.Error("the template assigns: want overrides")
	}
	plain, _ := Parse("p", "x")
	if _, ov, _ := plain.RenderOverrides(nil, nil, Limits{}); ov != nil {
		t.Errorf("overrides %+v, want nil", ov)
	}
	// A status that is not one is an error.
	bad, _ := Parse("b", "#set($context.responseOverride.status = 'teapot')")
	if _, _, err := bad.RenderOverrides(nil, nil, Limits{}); err == nil {
		t.Error("want an error for a non-numeric status")
	}
}

func TestRuntimeErrors(t *testing.T) {
	for _, c := range []struct {
		src  string
		in   *Input
		frag string
	}{
		{`$input.json('$')`, &Input{Body: []byte(`{"a":`)}, "not valid JSON"},
		{`$util.base64Decode("***")`, nil, "invalid base64"},
		{`$util.urlDecode("%zz")`, nil, "malformed escape"},
		{`#set($l = [1])$l.get(3)`, nil, "out of bounds"},
		{`#set($s = "ab")$s.substring(3)`, nil, "out of range"},
		{`#set($s = "ab")$s.replaceAll("(?<=a)b", "")`, nil, "RE2"},
	} {
		tp, err := Parse("t", c.src)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		_, err = tp.Render(c.in)
		var re *RuntimeError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, c.frag) {
			t.Errorf("%q: err = %v, want a *RuntimeError containing %q", c.src, err, c.frag)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		name, src string
		lim       Limits
		limit     string
	}{
		{"output", `#foreach($i in [1..100])0123456789#end`, Limits{MaxOutputBytes: 500}, "MaxOutputBytes"},
		{"steps", `#foreach($i in [1..1000])#foreach($j in [1..1000])#end#end`, Limits{}, "MaxSteps"},
		{"self-containing map", `#set($m = {})#set($x = $m.put("self", $m))$m`, Limits{}, "MaxDepth"},
		{"doubling string", `#set($s = "0123456789")#foreach($i in [1..40])#set($s = "$s$s")#end`, Limits{}, "MaxValueBytes"},
		{"scanning a large value many times", `#set($s = "0123456789")#foreach($i in [1..14])#set($s = "$s$s")#end#foreach($i in [1..1000])#if($s.contains("y"))#end#end`, Limits{}, "MaxSteps"},
		{"huge range", `#set($r = [1..2000000000])`, Limits{}, "MaxValueBytes"},
		{"range over the whole int64", `#set($r = [-9223372036854775808..9223372036854775807])`, Limits{}, "MaxValueBytes"},
		{"deep JSON", `$input.json('$')`, Limits{MaxDepth: 10}, "MaxDepth"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := Parse(c.name, c.src)
			if err != nil {
				t.Fatal(err)
			}
			in := &Input{Body: []byte(strings.Repeat("[", 50) + strings.Repeat("]", 50))}
			_, err = tp.AppendRender(nil, in, c.lim)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit {
				t.Fatalf("err = %v, want a *LimitError on %s", err, c.limit)
			}
			if !strings.Contains(err.Error(), c.limit) {
				t.Errorf("message %q does not name the limit", err)
			}
		})
	}
}

func TestNestingDepthIsASyntaxError(t *testing.T) {
	src := strings.Repeat("#if(true)", 100) + strings.Repeat("#end", 100)
	if _, err := Parse("deep", src); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("err = %v, want a nesting error", err)
	}
	src = "#set($a = " + strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200) + ")"
	if _, err := Parse("deep", src); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("err = %v, want a nesting error", err)
	}
}

func TestAppendRenderKeepsDst(t *testing.T) {
	tp, err := Parse("t", `b$input.params('x')`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tp.AppendRender([]byte("a"), &Input{QueryParams: map[string]string{"x": "c"}}, Limits{})
	if err != nil || string(out) != "abc" {
		t.Fatalf("got %q, %v", out, err)
	}
}
