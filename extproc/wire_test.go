package extproc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// messageForm is the answer as the service built it before the wire form: ImmediateResponse with the marker as
// unknown fields, the bytes Envoy then received.
func messageForm(t *testing.T, r *lambdaproxy.Response) []byte {
	t.Helper()
	resp := ImmediateResponse(r)
	resp.DynamicMetadata = nil
	resp.ProtoReflect().SetUnknown(processorMarkerWire)
	b, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wireResponses(t *testing.T) map[string]*lambdaproxy.Response {
	c := &lambdaproxy.Context{AccountID: "123456789012", RequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
		ExtendedRequestID: "TWegAcC4EowCHnA=", TraceID: "Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1"}
	many := &lambdaproxy.Response{StatusCode: 200, Body: bytes.Repeat([]byte("x"), 70000), Details: "proxyplus_lambda_ok"}
	for i := range 40 {
		many.Headers = append(many.Headers, [2]string{fmt.Sprintf("X-Long-Header-Name-Number-%02d-%s", i%30, strings.Repeat("A", 20)), strings.Repeat("v", i*10)})
	}
	out := map[string]*lambdaproxy.Response{
		"empty":           {StatusCode: 204},
		"status zero":     {},
		"negative status": {StatusCode: -1, Details: "d"},
		"no headers body": {StatusCode: 200, Body: []byte(`{"ok":true}`), Details: "proxyplus_lambda_ok"},
		"names": {StatusCode: 201, Headers: [][2]string{{"Content-Type", "application/json"}, {"set-cookie", "a=1"},
			{"Set-Cookie", "b=2"}, {"SET-COOKIE", "c=3"}, {"X-Ünïcode", "é"}, {"x-ünïcode", "2"}, {"x-empty", ""},
			{"", "no name"}, {"x-binary", "\xff\x00"}}, Body: []byte("body"), Details: "proxyplus_lambda_ok"},
		// Names whose lengths are 64 apart share appendImmediateWire's length bit: the repeat is still found.
		"lengths 64 apart": {StatusCode: 200, Headers: [][2]string{{"a", "1"}, {"x-" + strings.Repeat("l", 63), "2"},
			{"b", "3"}, {"X-" + strings.Repeat("L", 63), "4"}, {"A", "5"}}},
		"many headers, big body": many,
		"mixed case": {StatusCode: 200, Headers: [][2]string{{"X-Mixed-Case-Name-Longer-Than-8", "1"},
			{"x-mixed-case-name-longer-than-8", "2"}, {"Ab", "3"}, {"aB", "4"}, {"ABCDEFGH", "5"}, {"[@Z`z{", "6"}}},
		// Lines on both sides of appendImmediateWireASCII's one-byte-lengths case: an empty value or name, a name
		// and value of 99 and 100 bytes, repeated.
		"ascii edges": {StatusCode: 299, Headers: [][2]string{{"x-empty", ""}, {"", "no name"}, {"X-Empty", "v"},
			{"a", strings.Repeat("v", 98)}, {"A", strings.Repeat("w", 99)}, {"a", strings.Repeat("x", 98)},
			{"", ""}, {"x-EMPTY", ""}}, Body: []byte("b"), Details: "d"},
		// A non-ASCII name after ASCII ones: the answer is written again the general way.
		"late non-ASCII": {StatusCode: 200, Headers: [][2]string{{"X-A", "1"}, {"X-Long-Name-Here", "2"}, {"X-É", "3"}}},
		"gateway 500":    lambdaproxy.GatewayError(500, c),
		"gateway 502":    lambdaproxy.GatewayError(502, c),
		"gateway 504":    lambdaproxy.GatewayError(504, c),
		"gateway 413":    lambdaproxy.GatewayError(413, c),
		"content length": lambdaproxy.ContentLengthExceeded(),
	}
	// REF-OUTPUT through the conversion, and the function's error shapes.
	ref := LoadRef(t)
	req := &lambdaproxy.Request{Method: "POST", Path: "/dev/orders/1"}
	for name, inv := range map[string]*lambdaproxy.Invocation{
		"ref output":     {Payload: ref.Output},
		"function error": {Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled"},
		"malformed":      {Payload: []byte(`{"statusCode":"x"}`)},
		"timed out":      {TimedOut: true},
	} {
		out[name] = lambdaproxy.ConvertResponse(req, nil, inv, c)
	}
	return out
}

// TestImmediateWireMatchesMarshal: the wire form is, byte for byte, what the message form marshals to, so Envoy
// receives the same answer (EXT-9); and it decodes to the same message.
func TestImmediateWireMatchesMarshal(t *testing.T) {
	for name, r := range wireResponses(t) {
		want := messageForm(t, r)
		got, ok := appendImmediateWire([]byte("prefix"), r)
		if !ok {
			t.Errorf("%s: not encodable", name)
			continue
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
			t.Errorf("%s: wire form differs from proto.Marshal\n got %x\nwant %x", name, got[len("prefix"):], want)
			continue
		}
		var dec extprocsvcv3.ProcessingResponse
		if err := proto.Unmarshal(got[len("prefix"):], &dec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msg := ImmediateResponse(r)
		if !proto.Equal(&dec, msg) {
			t.Errorf("%s: decodes to %v, want %v", name, &dec, msg)
		}
		if name != "status zero" && name != "negative status" && name != "names" && name != "ascii edges" { // synthetic inputs outside PGV rules
			if err := dec.ValidateAll(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// TestImmediateWireNotUTF8: a header name or details that is not UTF-8 cannot be a proto3 string; the service
// keeps the message form, which gRPC's codec refuses, as before.
func TestImmediateWireNotUTF8(t *testing.T) {
	for _, r := range []*lambdaproxy.Response{
		{StatusCode: 200, Headers: [][2]string{{"x-\xff", "v"}}},
		{StatusCode: 200, Details: "\xff"},
	} {
		if b, ok := appendImmediateWire([]byte("prefix"), r); ok || string(b) != "prefix" {
			t.Errorf("%v: want the message form, and nothing written", r)
		}
	}
}

// TestServeLambdaSendsWireForm: the service's Lambda answer is the wire form of the conversion's response, for
// the reference exchange through handle.
func TestServeLambdaSendsWireForm(t *testing.T) {
	s, ref := refServer(t)
	pr, err := s.routeOf(ref)
	if err != nil {
		t.Fatal(err)
	}
	st := newStreamState()
	wire := ref.Wire()
	for _, m := range wire[:2] {
		if s.receiveWire(t.Context(), st, pr, nil, m) != nil {
			t.Fatal("an answer before end_of_stream (FULL_DUPLEX_STREAMED)")
		}
	}
	resp := s.receiveWire(t.Context(), st, pr, nil, wire[2])
	if resp != &st.resp || st.wire == nil {
		t.Fatal("want the wire form")
	}
	dec := onTheWire(resp)
	ir := dec.GetImmediateResponse()
	if ir.GetStatus().GetCode() != 201 || dec.GetDynamicMetadata().GetFields()["proxyplus"] == nil {
		t.Fatalf("answer %v", dec)
	}
	st.sent()
	if st.wire != nil || len(st.resp.ProtoReflect().GetUnknown()) != 0 {
		t.Error("sent should release the buffer")
	}
}

// TestASCIIWords: the word-at-a-time isASCII and appendLowerASCIIInPlace agree with the byte-by-byte definitions
// for every byte value at every position of strings up to 17 bytes.
func TestASCIIWords(t *testing.T) {
	for n := 0; n <= 17; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				in := []byte(strings.Repeat("aZ-9Q", 4)[:n])
				in[pos] = byte(c)
				s := string(in)
				wantASCII := c < 0x80
				if got := isASCII(s); got != wantASCII {
					t.Fatalf("isASCII(%q) = %v", s, got)
				}
				want := make([]byte, len(s))
				for i := 0; i < len(s); i++ {
					want[i] = lowerASCII(s[i])
				}
				if got := appendLowerASCIIInPlace([]byte("x"), s); string(got) != "x"+string(want) {
					t.Fatalf("appendLowerASCIIInPlace(%q) = %q, want %q", s, got[1:], want)
				}
			}
		}
	}
}

// TestLogMetadataReplacesMarker: with the access log's metadata, the answer carries one dynamic_metadata field, not
// the marker and then the log's struct; it parses to the same message as the two did (a parser merges the two
// occurrences, and the later "proxyplus" map entry replaces the earlier one: what Envoy applies is unchanged), and
// keeps the marker's processor: true for the local-reply mappers (HCM-12).
func TestLogMetadataReplacesMarker(t *testing.T) {
	for name, r := range wireResponses(t) {
		x := &Exchange{Response: r, Context: lambdaproxy.Context{RequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
			ExtendedRequestID: "TWegAcC4EowCHnA=", TraceID: "Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1;Sampled=0"},
			invoked: true, invokeStatus: 200}
		imm, ok := appendImmediateWire(nil, r)
		if !ok {
			t.Fatalf("%s: not encodable", name)
		}
		if !bytes.HasSuffix(imm, processorMarkerWire) {
			t.Fatalf("%s: the immediate response alone (OmitLogMetadata) must end with the marker", name)
		}
		got := appendLogMetadataWire(bytes.Clone(imm), x)
		// The former answer: the marker, then the log's struct.
		before := append(bytes.Clone(imm), got[len(imm)-len(processorMarkerWire):]...)
		if len(before)-len(got) != len(processorMarkerWire) {
			t.Fatalf("%s: %d bytes, want %d fewer than %d", name, len(got), len(processorMarkerWire), len(before))
		}
		if n := countField(t, got, fieldProcessingDynamicMetadata); n != 1 {
			t.Errorf("%s: %d dynamic_metadata fields, want 1", name, n)
		}
		var a, b extprocsvcv3.ProcessingResponse
		if err := proto.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(before, &b); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&a, &b) {
			t.Errorf("%s: parses to\n%v\nwant (marker, then log struct)\n%v", name, &a, &b)
		}
		if !a.GetDynamicMetadata().GetFields()[ProcessorNamespace].GetStructValue().GetFields()["processor"].GetBoolValue() {
			t.Errorf("%s: no proxyplus.processor: true", name)
		}
	}
}

// countField counts the top-level occurrences of field num in a message's wire bytes.
func countField(t *testing.T, b []byte, num protowire.Number) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		f, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			t.Fatal(protowire.ParseError(l))
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(f, typ, b)
		if l < 0 {
			t.Fatal(protowire.ParseError(l))
		}
		b = b[l:]
		if f == num {
			n++
		}
	}
	return n
}

// TestLowerNameInPlace: lowerNameInPlace lower-cases exactly the name's bytes and reports ASCII as the byte-by-byte
// definitions do, for every byte value at every position of names up to 17 bytes, after prefixes of 8 or more
// bytes (a varint's high bytes among them) that it must leave as they are.
func TestLowerNameInPlace(t *testing.T) {
	for _, prefix := range []string{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		"0123456789AB\x80\xc1ABCDEFGHIJ", "@@@@@@@@[[[[[[[[", "\xff\xff\xff\xff\xff\xff\xff\xff"} {
		for n := 1; n <= 17; n++ {
			for pos := 0; pos < n; pos++ {
				for c := 0; c < 256; c++ {
					in := []byte(strings.Repeat("aZ-9Q", 4)[:n])
					in[pos] = byte(c)
					b := append([]byte(prefix), in...)
					got := lowerNameInPlace(b, n)
					if want := isASCII(string(in)); got != want {
						t.Fatalf("lowerNameInPlace(%q after %q) = %v", in, prefix, got)
					}
					if !got {
						continue
					}
					want := prefix + string(appendLowerASCII(nil, string(in)))
					if string(b) != want {
						t.Fatalf("lowerNameInPlace(%q after %q) wrote %q, want %q", in, prefix, b, want)
					}
				}
			}
		}
	}
}
