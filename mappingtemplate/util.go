package mappingtemplate

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// $util (DG api-gateway-mapping-template-reference.md, "$util variables").
var utilMethods = map[string]bool{
	"escapeJavaScript": true, "urlEncode": true, "urlDecode": true, "base64Encode": true, "base64Decode": true,
	"parseJson": true,
}

// valueMethods are the Java methods implemented on template values (see callMethod).
var valueMethods = map[string]bool{
	// String
	"length": true, "isEmpty": true, "toLowerCase": true, "toUpperCase": true, "trim": true, "substring": true,
	"indexOf": true, "lastIndexOf": true, "startsWith": true, "endsWith": true, "contains": true, "equals": true,
	"equalsIgnoreCase": true, "replace": true, "replaceAll": true, "replaceFirst": true, "matches": true,
	"split": true, "charAt": true, "toString": true, "concat": true,
	// Map
	"size": true, "get": true, "containsKey": true, "containsValue": true, "keySet": true, "values": true,
	"put": true, "remove": true,
	// List
	"add": true, "set": true,
	// numbers, booleans
	"intValue": true, "longValue": true, "doubleValue": true, "booleanValue": true,
	// $foreach
	"hasNext": true, "getIndex": true, "getCount": true, "isFirst": true, "isLast": true, "getParent": true,
	"getHasNext": true,
}

// escapeJavaScript is Apache Commons Lang 2 StringEscapeUtils.escapeJavaScript (escapeJavaStyleString with
// escapeSingleQuote and escapeForwardSlash): the function API Gateway documents, "turns any regular single quotes
// (') into escaped ones (\')". Non-ASCII characters become \uXXXX (upper-case hex, UTF-16 units).
func escapeJavaScript(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); {
		// Copy the run that needs no escaping in one go.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '\'' && s[j] != '"' && s[j] != '\\' && s[j] != '/' {
			j++
		}
		dst = append(dst, s[i:j]...)
		i = j
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\'' || c == '"' || c == '\\' || c == '/':
				dst = append(dst, '\\', c)
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			default: // the other control characters; every other ASCII byte was copied above
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		units := []rune{r}
		if r >= 0x10000 {
			a, b := utf16.EncodeRune(r)
			units = []rune{a, b}
		}
		for _, u := range units {
			dst = append(dst, '\\', 'u', hex[(u>>12)&0xf], hex[(u>>8)&0xf], hex[(u>>4)&0xf], hex[u&0xf])
		}
	}
	return dst
}

// urlEncode is java.net.URLEncoder.encode(s, "UTF-8"): letters, digits and .-*_ stay, space is +, the rest %XX.
func urlEncode(s string) string { return string(appendURLEncode(make([]byte, 0, len(s)+8), s)) }

func appendURLEncode(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c) || isDigit(c) || c == '.' || c == '-' || c == '*' || c == '_':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}

// urlDecode is java.net.URLDecoder.decode(s, "UTF-8"): + is a space, %XX a byte; a malformed escape is an error
// (IllegalArgumentException in Java).
func urlDecode(s string) (string, bool) {
	if !strings.ContainsAny(s, "+%") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, h<<4|l)
			i += 2
		default:
			b = append(b, c)
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func base64Decode(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// java.util.Base64's basic decoder also accepts input without padding.
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return "", false
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), true
}

// javaString helps the String methods that index by UTF-16 unit. ASCII strings index by byte.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func utf16Units(s string) []uint16 { return utf16.Encode([]rune(s)) }

func fromUnits(u []uint16) string { return string(utf16.Decode(u)) }

func javaLength(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return len(utf16Units(s))
}

// javaSubstring returns s[begin:end] in UTF-16 units; ok is false when Java would throw.
func javaSubstring(s string, begin, end int) (string, bool) {
	if isASCII(s) {
		if begin < 0 || end > len(s) || begin > end {
			return "", false
		}
		return s[begin:end], true
	}
	u := utf16Units(s)
	if begin < 0 || end > len(u) || begin > end {
		return "", false
	}
	return fromUnits(u[begin:end]), true
}

// javaIndexOf returns the UTF-16 index of sub in s at or after from, or -1.
func javaIndexOf(s, sub string, from int) int {
	if from < 0 {
		from = 0
	}
	if isASCII(s) {
		if from > len(s) {
			return -1
		}
		i := strings.Index(s[from:], sub)
		if i < 0 {
			return -1
		}
		return i + from
	}
	u, su := utf16Units(s), utf16Units(sub)
	for i := from; i+len(su) <= len(u); i++ {
		match := true
		for k := range su {
			if u[i+k] != su[k] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

func javaLastIndexOf(s, sub string) int {
	if isASCII(s) {
		return strings.LastIndex(s, sub)
	}
	i := strings.LastIndex(s, sub)
	if i < 0 {
		return -1
	}
	return len(utf16Units(s[:i]))
}
