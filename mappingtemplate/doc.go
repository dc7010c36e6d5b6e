// Package mappingtemplate runs Amazon API Gateway mapping templates: the subset of Apache Velocity 1.7 (VTL) that
// API Gateway evaluates for integration request and response templates (MOCK integrations, and later non-proxy
// HTTP/AWS integrations), plus the plain substitution API Gateway applies to gateway-response templates.
//
// # Use
//
//	t, err := mappingtemplate.Parse("GET /pets/{petId} 200 application/json", src) // once, at load time
//	if err != nil { ... }                       // *SyntaxError: line and column
//	for _, is := range t.Unsupported() { ... }  // constructs the interpreter cannot run, with line:column
//	out, err := t.Render(&mappingtemplate.Input{   // per request; safe for concurrent use
//		Body:       body,
//		PathParams: map[string]string{"petId": "123"},
//		Context:    map[string]string{"stage": "prod", "httpMethod": "GET", "identity.sourceIp": "192.0.2.1"},
//	})
//	// err: *RuntimeError (bad JSONPath, body is not JSON, an unsupported construct was reached, ...)
//	//      or *LimitError (which limit: output size, steps, depth, value bytes)
//
// Gateway-response templates are not VTL (DG api-gateway-swagger-extensions-gateway-responses.responseTemplates.md,
// MOCK-CORS.md §3): [ParseSubstitution] returns a Template that only replaces $context.<name> and
// $stageVariables.<name> and copies everything else byte for byte.
//
// [Template.RenderOverrides] also returns what the template assigned to $context.responseOverride.status,
// $context.responseOverride.header.<name> and $context.requestOverride.header/querystring/path.<name> (DG
// apigateway-override-request-response-parameters.md); later reads of those variables see the assigned values.
//
// [Check] is what `validate` calls for a VTL template: the syntax error, if any, and every unsupported construct,
// each with its position. (A substitution template has nothing unsupported.)
//
// # Inputs
//
// [Input] is filled by the caller. $input.params('x') searches PathParams, QueryParams, then Headers (DG
// api-gateway-mapping-template-reference.md: "path, query string, or header value, searched in that order") and
// gives "" when absent; header names are matched exactly first, then case-insensitively. $input.params() is a map
// with the keys path, querystring and header. Context holds the $context variables under their dotted names
// ("requestId", "identity.sourceIp", "authorizer.claims.sub", "error.message", ...): $context.identity.sourceIp reads
// the key "identity.sourceIp", and $context.identity is the map of every key below "identity.". A key the caller
// leaves out is an undefined reference (rendered as its source text). "error.messageString" defaults to
// error.message as a JSON string literal (DG: "The quoted value of $context.error.message, namely
// "$context.error.message""). Maps built from Go maps (params, stage variables, context) iterate in sorted key
// order.
//
// # Grammar
//
// The template is text with references and directives. Everything that is not one of the following is text and
// is copied as is.
//
//	reference   := "$" ["!"] ( ref | "{" ref "}" )          ; "!" = quiet: an undefined value renders as ""
//	ref         := ident index* ( "." ( ident "(" [args] ")" | ident ) index* )*
//	ident       := [A-Za-z_] [A-Za-z0-9_-]*                 ; Velocity 1.7 allows "-" inside names
//	index       := "[" ws? ( string | int | "true" | "false" | reference ) ws? "]"
//	args        := arg ( "," arg )*
//	arg         := ws? ( string | int | float | range | list | map | "true" | "false" | reference ) ws?
//	directive   := "#set" " "* "(" reference "=" expr ")"
//	             | "#if" ws? "(" expr ")" block ( "#elseif" ws? "(" expr ")" block )* [ "#else" block ] "#end"
//	             | "#foreach" ws? "(" ws? reference ws "in" ws arg ws? ")" block "#end"
//	             | "#break" | "#stop"
//	             | "#{" name "}" ...                           ; formal forms #{if}, #{else}, #{end}, ...
//	comment     := "##" to end of line (the newline is part of the comment) | "#*" ... "*#"
//	textblock   := "#[[" ... "]]#"                           ; copied unparsed
//	expr        := or ; or := and ( ("||"|"or") and )* ; and := eq ( ("&&"|"and") eq )*
//	eq          := rel ( ("=="|"eq"|"!="|"ne") rel )* ; rel := add ( ("<"|"lt"|"<="|"le"|">"|"gt"|">="|"ge") add )*
//	add         := mul ( ("+"|"-") mul )* ; mul := unary ( ("*"|"/"|"%") unary )*
//	unary       := ("!"|"not") unary | primary
//	primary     := string | int | float | range | list | map | "true" | "false" | reference | "(" expr ")"
//	string      := '"' ... '"'  (interpolated: references and directives inside are rendered)
//	             | "'" ... "'"  (literal; '' is a quote)
//	range       := "[" (int|reference) ".." (int|reference) "]" ; list := "[" [arg ("," arg)*] "]"
//	map         := "{" [arg ":" arg ("," arg ":" arg)*] "}"
//
// Whitespace, as Velocity 1.7's lexer (Parser.jjt) does it: the closing ")" of #set, #if, #elseif and #foreach
// swallows following spaces/tabs and one newline; #else and #end swallow following spaces/tabs and one newline;
// #set also swallows the spaces and tabs before it when nothing else precedes them since the last directive,
// reference or comment (its SET_DIRECTIVE token starts with them; text such as "x  #set" is one TEXT token, kept).
// Indentation before other directives is output. A "## comment" swallows its newline.
//
// Escapes: "\$ref" renders "$ref" when the reference has a value and "\$ref" when it does not; "\#if" (and the other
// directive names) renders "#if" without running it. Backslashes anywhere else are text.
//
// # Semantics (Velocity 1.7)
//
//   - An undefined or null reference renders as its source text ("$foo", "${foo}", "$input.path('$.x')"); a quiet
//     one ($!foo) renders as nothing.
//   - #if: null and false are false, everything else (including "" and 0) is true.
//   - == compares numbers by value, values of the same kind with equals, otherwise their string forms; null equals
//     only null. <, <=, >, >= need numbers (otherwise false). + concatenates when either side is a string.
//   - #set with a null right-hand side removes the variable. #foreach iterates lists, the values of maps, and
//     nothing for null; inside it $foreach.hasNext, .index, .count, .first, .last, .parent, $velocityCount (from 1)
//     and $velocityHasNext are defined; the loop variable gets its previous value back after the loop. A loop stops
//     after Limits.MaxForeachIterations (1,000 as API Gateway; Velocity's directive.foreach.maxloops stops the
//     loop, it does not fail the template).
//   - Maps render as {k=v, k2=v2}, lists as [a, b] (Java's toString), decimals as Java's Double.toString.
//
// $input.json(path) renders the selected JSON value as compact JSON text; $input.path(path) returns the value as an
// object (map, list, string, number, boolean). An empty body is {}. The JSONPath subset: $, .name, ['name'],
// ["name"], [n] (negative from the end), [*], .*, and ..name (deep scan). Paths with [*], .* or .. select a list.
// A missing member is null. Filters, slices and unions are unsupported (Check reports them when the path is a
// literal).
//
// $util: escapeJavaScript (Commons Lang 2 StringEscapeUtils.escapeJavaScript: ' " \ / escaped, control
// characters and non-ASCII as \uXXXX), urlEncode/urlDecode (java.net.URLEncoder/URLDecoder, UTF-8),
// base64Encode/base64Decode (standard alphabet, padded), parseJson.
//
// Methods on values: strings — length, isEmpty, toLowerCase, toUpperCase, trim, substring, indexOf, lastIndexOf,
// startsWith, endsWith, contains, equals, equalsIgnoreCase, replace, replaceAll, replaceFirst, matches, split,
// charAt, toString; maps — size, isEmpty, get, containsKey, containsValue, keySet, values, put, remove;
// lists — size, isEmpty, get, contains, indexOf, add, set, remove; numbers and booleans — toString, intValue,
// longValue, doubleValue, booleanValue. A method a value does not have gives null (rendered as the reference's
// source), as Velocity's uberspector does; a method name no value type implements is reported by Check and fails
// the evaluation when reached. Regular
// expressions (replaceAll, matches, split) use Go's RE2, which has no backreferences or lookaround; a pattern RE2
// cannot compile is a RuntimeError. Java replacement strings ($1, \$) are translated.
//
// # Choices where API Gateway's behaviour is not recorded
//
//   - $input.json of a missing member renders null; $input.path of one is null (renders as its source).
//   - $input.json writes compact JSON and does not escape "/".
//   - $util functions apply toString to non-string arguments; a null argument gives null. String methods given a
//     non-string argument give null (Java has no such overload).
//   - An empty body reads as {} for $input.body, $input.json and $input.path (LocalStack's AWS-validated
//     VelocityInput); a JSON list from the body renders as JSON text, a JSON object as {k=v} (ditto).
//   - JSON numbers are int64 when integral and in range, float64 otherwise, rendered as Java's Double.toString
//     (1.0, 1.0E20) by references and by $input.json.
//   - String literals keep backslashes as written, except \uXXXX escapes (Velocity 1.7 ASTStringLiteral).
//   - #break outside #foreach stops the template, like #stop.
//
// # Unsupported (reported by Check and Unsupported, an error if reached)
//
// #macro, #include, #parse, #evaluate, #define, #literal, a call of an undefined macro (#name(...)), unknown $util
// methods, JSONPath filters/slices/unions in literal paths, assignments into $context other than the overrides
// below, unknown $input members and Java methods outside the list above.
//
// # Limits
//
// Every evaluation is bounded by [Limits] (DefaultLimits: 10 MiB output, 1,000,000 steps, 1,000 iterations per
// #foreach, depth 64, 32 MiB of string and collection values created). Exceeding a limit other than the #foreach cap
// fails the evaluation with a *LimitError naming the limit. Parsing is bounded by the template's length and a
// nesting depth of 64 directives or parentheses.
package mappingtemplate
