package extproc

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/proxyplus/proxyplus/internal/ids"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// refLogMetadataWire is appendLogMetadataWire as it was before it wrote constant key prefixes and sized the
// entries arithmetically (a table of entries sized, then written): the bytes the new one must write.
func refLogMetadataWire(b []byte, x *Exchange) []byte {
	if n := len(b) - len(processorMarkerWire); n >= 0 && string(b[n:]) == string(processorMarkerWire) {
		b = b[:n]
	}
	c, r := &x.Context, x.Response
	var entries [12]refMetaEntry
	es := append(entries[:0], refMetaEntry{key: "processor", kind: fieldValueBool, num: 1},
		refMetaEntry{key: MetaRequestID, kind: fieldValueString, str: c.RequestID},
		refMetaEntry{key: MetaExtendedRequestID, kind: fieldValueString, str: c.ExtendedRequestID},
		refMetaEntry{key: MetaTraceID, kind: fieldValueString, str: c.TraceID},
		refMetaEntry{key: MetaXRayTraceID, kind: fieldValueString, str: ids.Root(c.TraceID)})
	if x.invoked {
		es = append(es, refMetaEntry{key: MetaIntegrationLatency, kind: fieldValueNumber, num: float64(x.latency.Milliseconds())})
		if x.invokeStatus != 0 {
			es = append(es, refMetaEntry{key: MetaIntegrationStatus, kind: fieldValueNumber, num: float64(x.invokeStatus)})
		}
		if r != nil && r.ErrorType == "" && r.Details == lambdaproxy.DetailsLambdaOK {
			es = append(es, refMetaEntry{key: MetaFunctionStatus, kind: fieldValueNumber, num: float64(r.StatusCode)})
		}
	}
	if msg, typ := gatewayError(r); msg != "" {
		es = append(es, refMetaEntry{key: MetaErrorMessage, kind: fieldValueString, str: msg},
			refMetaEntry{key: MetaErrorResponseType, kind: fieldValueString, str: typ})
	}
	inner := 0
	for i := range es {
		e := &es[i]
		e.vsz = e.valueSize()
		e.sz = protowire.SizeTag(1) + protowire.SizeBytes(len(e.key)) + protowire.SizeTag(2) + protowire.SizeBytes(e.vsz)
		inner += protowire.SizeTag(fieldStructFields) + protowire.SizeBytes(e.sz)
	}
	// Outer Struct{fields: {"proxyplus": Value{struct_value: inner}}}.
	value := protowire.SizeTag(fieldValueStruct) + protowire.SizeBytes(inner)
	entry := protowire.SizeTag(1) + protowire.SizeBytes(len(ProcessorNamespace)) + protowire.SizeTag(2) + protowire.SizeBytes(value)
	outer := protowire.SizeTag(fieldStructFields) + protowire.SizeBytes(entry)
	b = slices.Grow(b, protowire.SizeTag(fieldProcessingDynamicMetadata)+protowire.SizeBytes(outer))
	b = appendTag(b, fieldProcessingDynamicMetadata, protowire.BytesType)
	b = appendVarint(b, uint64(outer))
	b = appendTag(b, fieldStructFields, protowire.BytesType)
	b = appendVarint(b, uint64(entry))
	b = appendTag(b, 1, protowire.BytesType)
	b = appendString(b, ProcessorNamespace)
	b = appendTag(b, 2, protowire.BytesType)
	b = appendVarint(b, uint64(value))
	b = appendTag(b, fieldValueStruct, protowire.BytesType)
	b = appendVarint(b, uint64(inner))
	for i := range es {
		b = es[i].append(b)
	}
	return b
}

type refMetaEntry struct {
	key  string
	kind protowire.Number
	str  string
	num  float64
	// sz and vsz are the entry's and its Value's sizes, computed once by appendLogMetadataWire's sizing pass
	// (computing them again as each entry was written was ≈ 0.5k instructions per answer, callgrind, Dec 2026).
	sz, vsz int
}

func (e *refMetaEntry) valueSize() int {
	switch e.kind {
	case fieldValueString:
		return protowire.SizeTag(fieldValueString) + protowire.SizeBytes(len(e.str))
	case fieldValueNumber:
		return protowire.SizeTag(fieldValueNumber) + protowire.SizeFixed64()
	default:
		return protowire.SizeTag(fieldValueBool) + 1
	}
}

func (e *refMetaEntry) append(b []byte) []byte {
	b = appendTag(b, fieldStructFields, protowire.BytesType)
	b = appendVarint(b, uint64(e.sz))
	b = appendTag(b, 1, protowire.BytesType)
	b = appendString(b, e.key)
	b = appendTag(b, 2, protowire.BytesType)
	b = appendVarint(b, uint64(e.vsz))
	switch e.kind {
	case fieldValueString:
		b = appendTag(b, fieldValueString, protowire.BytesType)
		return appendString(b, e.str)
	case fieldValueNumber:
		b = appendTag(b, fieldValueNumber, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(e.num))
	default:
		b = appendTag(b, fieldValueBool, protowire.VarintType)
		return appendVarint(b, uint64(e.num))
	}
}

// TestLogMetadataWireBytes: appendLogMetadataWire writes refLogMetadataWire's bytes for every kind of exchange:
// invoked or not, with and without the Invoke status, the function's own response or the gateway's errors, and
// values long enough for two-byte lengths.
func TestLogMetadataWireBytes(t *testing.T) {
	long := strings.Repeat("r", 200)
	contexts := []lambdaproxy.Context{
		{RequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", ExtendedRequestID: "TWegAcC4EowCHnA=",
			TraceID: "Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1;Parent=53995c3f42cd8ad8;Sampled=1"},
		{},
		{RequestID: long, ExtendedRequestID: long + long, TraceID: "Root=" + long},
		{TraceID: "Parent=1;Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1"},
	}
	for name, r := range wireResponses(t) {
		for ci, c := range contexts {
			for _, invoked := range []bool{false, true} {
				for _, status := range []int{0, 200, 429} {
					x := &Exchange{Response: r, Context: c, invoked: invoked, invokeStatus: status, latency: 1234567 * time.Microsecond}
					imm, ok := appendImmediateWire([]byte("prefix"), r)
					if !ok {
						t.Fatalf("%s: not encodable", name)
					}
					got := appendLogMetadataWire(bytes.Clone(imm), x)
					want := refLogMetadataWire(bytes.Clone(imm), x)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, context %d, invoked %v, status %d:\n got %x\nwant %x", name, ci, invoked, status, got, want)
					}
				}
			}
		}
	}
	x := &Exchange{Context: contexts[0]} // no response
	if got, want := appendLogMetadataWire(nil, x), refLogMetadataWire(nil, x); !bytes.Equal(got, want) {
		t.Fatalf("no response:\n got %x\nwant %x", got, want)
	}
}

// TestTraceRoot: traceRoot is ids.Root.
func TestTraceRoot(t *testing.T) {
	for _, h := range []string{"", "Root=", "Root=;", "Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1", "Root=1-5e1b4151-5ac6c58f5b5d4ed6a4b3c2d1;Parent=1",
		"Root=abc ;Parent=1", "Root=abc\u00a0;x", "Root=a=b;c", "root=abc", "Parent=1;Root=abc", " Root=abc", "Root=abc-", "Root=é"} {
		if got, want := traceRoot(h), ids.Root(h); got != want {
			t.Errorf("traceRoot(%q) = %q, want %q", h, got, want)
		}
	}
}
