package extproc

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/proxyplus/proxyplus/internal/ids"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// The values of a Lambda request only the processor knows, handed to Envoy's access log as dynamic metadata in
// the processor's receiving namespace (proxyplus, listed in metadata_options.receiving_namespaces): the access
// log reads them with %DYNAMIC_METADATA(proxyplus:<key>)% (xds/builder/accesslog.go). Keys are API Gateway's
// $context variable names without "$context.". Envoy applies an immediate response's dynamic_metadata before the
// local reply (ext_proc.cc Filter::onReceiveMessage → setDynamicMetadata, main 1.37.0-dev 321a098d81).
const (
	MetaRequestID          = "requestId"
	MetaExtendedRequestID  = "extendedRequestId"
	MetaTraceID            = "traceId"     // the X-Amzn-Trace-Id header the event and the client got
	MetaXRayTraceID        = "xrayTraceId" // its Root
	MetaIntegrationLatency = "integrationLatency"
	MetaIntegrationStatus  = "integrationStatus"  // the Lambda service's status for the Invoke
	MetaFunctionStatus     = "integration.status" // the status the function returned
	MetaErrorMessage       = "error.message"
	MetaErrorResponseType  = "error.responseType"
)

// Field numbers of google/protobuf/struct.proto.
const (
	fieldProcessingDynamicMetadata = 8 // ProcessingResponse.dynamic_metadata
	fieldStructFields              = 1 // Struct.fields (map entry: key 1, value 2)
	fieldValueNumber               = 2 // Value.number_value
	fieldValueString               = 3 // Value.string_value
	fieldValueBool                 = 4 // Value.bool_value
	fieldValueStruct               = 5 // Value.struct_value
)

// appendLogMetadataWire appends the dynamic_metadata field Envoy applies: the "proxyplus" struct with the marker's
// processor: true and the log values. It replaces the marker appendImmediateWire wrote last (b ends with
// processorMarkerWire): that copy changed nothing Envoy applies once this one follows, and it was 36 of the 955
// bytes of REF's answer. Envoy parses the ProcessingResponse with the protobuf library, which merges a message
// field that occurs twice (dynamic_metadata) and, in a map (Struct.fields), keeps the last entry of a key whole
// ("Last One Wins" of the protobuf encoding guide; maps: "if there are duplicate map keys the last key seen is
// used"), so both forms parse to the same message (TestLogMetadataReplacesMarker checks it with proto.Unmarshal,
// which follows the same rules); Filter::onReceiveMessage → setDecoderDynamicMetadata → setDynamicMetadata then
// sets each received namespace's struct_value from that one message (source/extensions/filters/http/ext_proc/
// ext_proc.cc, main 1.37.0-dev 321a098d81). Without the log metadata (OmitLogMetadata) the marker stays.
func appendLogMetadataWire(b []byte, x *Exchange) []byte {
	if n := len(b) - len(processorMarkerWire); n >= 0 && b[n] == processorMarkerWire[0] &&
		binary.LittleEndian.Uint64(b[len(b)-8:]) == processorMarkerTail {
		// Its tag and last eight bytes: comparing all 36 was ≈ 80 instructions per answer (callgrind, Dec 2026),
		// and appendImmediateWire, which runs just before, always ends with it.
		b = b[:n]
	}
	c, r := &x.Context, x.Response
	var entries [12]metaEntry
	es := append(entries[:0], metaEntry{key: "processor", kind: fieldValueBool, num: 1},
		metaEntry{key: MetaRequestID, kind: fieldValueString, str: c.RequestID},
		metaEntry{key: MetaExtendedRequestID, kind: fieldValueString, str: c.ExtendedRequestID},
		metaEntry{key: MetaTraceID, kind: fieldValueString, str: c.TraceID},
		metaEntry{key: MetaXRayTraceID, kind: fieldValueString, str: ids.Root(c.TraceID)})
	if x.invoked {
		es = append(es, metaEntry{key: MetaIntegrationLatency, kind: fieldValueNumber, num: float64(x.latency.Milliseconds())})
		if x.invokeStatus != 0 {
			es = append(es, metaEntry{key: MetaIntegrationStatus, kind: fieldValueNumber, num: float64(x.invokeStatus)})
		}
		if r != nil && r.ErrorType == "" && r.Details == lambdaproxy.DetailsLambdaOK {
			es = append(es, metaEntry{key: MetaFunctionStatus, kind: fieldValueNumber, num: float64(r.StatusCode)})
		}
	}
	if msg, typ := gatewayError(r); msg != "" {
		es = append(es, metaEntry{key: MetaErrorMessage, kind: fieldValueString, str: msg},
			metaEntry{key: MetaErrorResponseType, kind: fieldValueString, str: typ})
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

// Answer is the processor's answer for x as Envoy decodes it — the immediate response and the dynamic metadata
// (the marker's processor: true and the access log's values) — decoded from the bytes the service sends (test-invoke and the
// access-log tests use it).
func Answer(x *Exchange) (*extprocsvcv3.ProcessingResponse, error) {
	b, ok := appendImmediateWire(nil, x.Response)
	if !ok {
		return ImmediateResponse(x.Response), nil
	}
	b = appendLogMetadataWire(b, x)
	out := &extprocsvcv3.ProcessingResponse{}
	if err := proto.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("processor answer: %w", err)
	}
	return out, nil
}

// processorMarkerTail is the last eight bytes of processorMarkerWire (appendLogMetadataWire).
var processorMarkerTail = binary.LittleEndian.Uint64(processorMarkerWire[len(processorMarkerWire)-8:])

// ProcessorNamespace is the dynamic-metadata namespace of everything the processor hands Envoy.
const ProcessorNamespace = "proxyplus"

type metaEntry struct {
	key  string
	kind protowire.Number
	str  string
	num  float64
	// sz and vsz are the entry's and its Value's sizes, computed once by appendLogMetadataWire's sizing pass
	// (computing them again as each entry was written was ≈ 0.5k instructions per answer, callgrind, Dec 2026).
	sz, vsz int
}

func (e *metaEntry) valueSize() int {
	switch e.kind {
	case fieldValueString:
		return protowire.SizeTag(fieldValueString) + protowire.SizeBytes(len(e.str))
	case fieldValueNumber:
		return protowire.SizeTag(fieldValueNumber) + protowire.SizeFixed64()
	default:
		return protowire.SizeTag(fieldValueBool) + 1
	}
}

func (e *metaEntry) append(b []byte) []byte {
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
		return protowire.AppendFixed64(b, mathFloat64bits(e.num))
	default:
		b = appendTag(b, fieldValueBool, protowire.VarintType)
		return appendVarint(b, uint64(e.num))
	}
}

// gatewayError is $context.error.message and $context.error.responseType of an answer the gateway made itself
// (API Gateway's gateway response types); "" for a function's own response.
func gatewayError(r *lambdaproxy.Response) (message, responseType string) {
	if r == nil {
		return "", ""
	}
	switch r.Details {
	case lambdaproxy.DetailsLambdaOK, "":
		return "", ""
	case lambdaproxy.DetailsLambdaTimeout, lambdaproxy.DetailsIntegrationTimeout:
		return "Endpoint request timed out", "INTEGRATION_TIMEOUT"
	case lambdaproxy.DetailsLambdaRequestTooLong:
		return "Request Too Long", "REQUEST_TOO_LARGE"
	case lambdaproxy.DetailsContentLengthExceeded:
		return "HTTP content length exceeded 10485760 bytes.", "REQUEST_TOO_LARGE"
	case lambdaproxy.DetailsMissingAuthToken:
		return "Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN"
	case lambdaproxy.DetailsForbidden:
		return "Forbidden", "DEFAULT_4XX"
	}
	if r.StatusCode == 502 {
		return "Internal server error", "INTEGRATION_FAILURE"
	}
	if r.StatusCode >= 500 {
		return "Internal server error", "DEFAULT_5XX"
	}
	return "", ""
}

func mathFloat64bits(f float64) uint64 { return math.Float64bits(f) }
