package extproc

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

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
	// The entries' keys, and a number's whole prefix, are constant bytes (metaKey*, metaNumber*); only the string
	// values' lengths vary, so the struct's size is summed from them and everything written once, in order. A
	// table of entries sized and then written field by field was ≈ 2.4k instructions per REF answer, 0.9k now
	// (callgrind, Dec 2026); the bytes are the same (TestLogMetadataWireBytes).
	c, r := &x.Context, x.Response
	root := traceRoot(c.TraceID)
	latency, status, function := x.invoked, x.invoked && x.invokeStatus != 0,
		x.invoked && r != nil && r.ErrorType == "" && r.Details == lambdaproxy.DetailsLambdaOK
	msg, typ := gatewayError(r)
	inner := len(metaProcessorEntry) + metaStringSize(metaKeyRequestID, c.RequestID) +
		metaStringSize(metaKeyExtendedRequestID, c.ExtendedRequestID) + metaStringSize(metaKeyTraceID, c.TraceID) +
		metaStringSize(metaKeyXRayTraceID, root)
	if latency {
		inner += len(metaNumberIntegrationLatency) + 8
	}
	if status {
		inner += len(metaNumberIntegrationStatus) + 8
	}
	if function {
		inner += len(metaNumberFunctionStatus) + 8
	}
	if msg != "" {
		inner += metaStringSize(metaKeyErrorMessage, msg) + metaStringSize(metaKeyErrorResponseType, typ)
	}
	// Outer Struct{fields: {"proxyplus": Value{struct_value: inner}}}.
	value := 1 + sizeBytes(inner)
	entry := 1 + sizeBytes(len(ProcessorNamespace)) + 1 + sizeBytes(value)
	outer := 1 + sizeBytes(entry)
	b = slices.Grow(b, 1+sizeBytes(outer))
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
	b = append(b, metaProcessorEntry...)
	b = appendMetaString(b, metaKeyRequestID, c.RequestID)
	b = appendMetaString(b, metaKeyExtendedRequestID, c.ExtendedRequestID)
	b = appendMetaString(b, metaKeyTraceID, c.TraceID)
	b = appendMetaString(b, metaKeyXRayTraceID, root)
	if latency {
		b = appendMetaNumber(b, metaNumberIntegrationLatency, float64(x.latency.Milliseconds()))
	}
	if status {
		b = appendMetaNumber(b, metaNumberIntegrationStatus, float64(x.invokeStatus))
	}
	if function {
		b = appendMetaNumber(b, metaNumberFunctionStatus, float64(r.StatusCode))
	}
	if msg != "" {
		b = appendMetaString(b, metaKeyErrorMessage, msg)
		b = appendMetaString(b, metaKeyErrorResponseType, typ)
	}
	return b
}

// The access-log struct's entries as written (Struct.fields map entries: key 1, value 2). metaKey* is an entry's
// key field (tag, length, key); metaNumber* everything of a number entry but the double's 8 bytes; the processor
// entry is whole (processor: true, the marker's).
var (
	metaProcessorEntry       = metaBoolEntry("processor")
	metaKeyRequestID         = metaKey(MetaRequestID)
	metaKeyExtendedRequestID = metaKey(MetaExtendedRequestID)
	metaKeyTraceID           = metaKey(MetaTraceID)
	metaKeyXRayTraceID       = metaKey(MetaXRayTraceID)
	metaKeyErrorMessage      = metaKey(MetaErrorMessage)
	metaKeyErrorResponseType = metaKey(MetaErrorResponseType)

	metaNumberIntegrationLatency = metaNumberPrefix(MetaIntegrationLatency)
	metaNumberIntegrationStatus  = metaNumberPrefix(MetaIntegrationStatus)
	metaNumberFunctionStatus     = metaNumberPrefix(MetaFunctionStatus)
)

func metaKey(key string) string {
	return string(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), key))
}

// metaValueEntry is a map entry of key and the Value whose bytes are value.
func metaValueEntry(key string, value []byte) []byte {
	e := protowire.AppendTag([]byte(metaKey(key)), 2, protowire.BytesType)
	e = protowire.AppendBytes(e, value)
	return protowire.AppendBytes(protowire.AppendTag(nil, fieldStructFields, protowire.BytesType), e)
}

func metaBoolEntry(key string) string {
	return string(metaValueEntry(key, protowire.AppendVarint(protowire.AppendTag(nil, fieldValueBool, protowire.VarintType), 1)))
}

func metaNumberPrefix(key string) string {
	e := metaValueEntry(key, protowire.AppendFixed64(protowire.AppendTag(nil, fieldValueNumber, protowire.Fixed64Type), 0))
	return string(e[:len(e)-8])
}

// metaStringSize is the size of appendMetaString's entry.
func metaStringSize(key, s string) int {
	value := 1 + sizeBytes(len(s))
	return 1 + sizeBytes(len(key)+1+sizeBytes(value))
}

// appendMetaString appends the map entry of key (metaKey) and Value{string_value: s}.
func appendMetaString(b []byte, key, s string) []byte {
	value := 1 + sizeBytes(len(s))
	if sz := len(key) + 1 + sizeBytes(value); sz < 1<<7 {
		// Every length one byte (the value's and the string's are smaller): the tags and lengths stored, not
		// appended one by one (≈ 35 instructions an entry; callgrind, Dec 2026).
		n := len(b)
		if cap(b)-n < 2+sz+2 { // the entry, and the 4-byte store's overhang
			b = slices.Grow(b, 2+sz+2)
		}
		binary.LittleEndian.PutUint16(b[n:n+2], uint16(fieldStructFields<<3|protowire.BytesType)|uint16(sz)<<8)
		b = append(b[:n+2], key...)
		n = len(b)
		binary.LittleEndian.PutUint32(b[n:n+4], uint32(2<<3|protowire.BytesType)|uint32(value)<<8|
			uint32(fieldValueString<<3|protowire.BytesType)<<16|uint32(len(s))<<24)
		return append(b[:n+4], s...)
	}
	b = appendTag(b, fieldStructFields, protowire.BytesType)
	b = appendVarint(b, uint64(len(key)+1+sizeBytes(value)))
	b = append(b, key...)
	b = appendTag(b, 2, protowire.BytesType)
	b = appendVarint(b, uint64(value))
	b = appendTag(b, fieldValueString, protowire.BytesType)
	return appendString(b, s)
}

// appendMetaNumber appends a number entry: its prefix (metaNumber*) and the double.
func appendMetaNumber(b []byte, prefix string, f float64) []byte {
	b = append(b, prefix...)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// traceRoot is ids.Root(header), directly for the usual header that starts with its Root ("Root=1-…;Parent=…"),
// whose value then ends with a letter or digit (ids.Root trims spaces, and the Unicode ones, from the part):
// ids.Root's cuts and trims were ≈ 0.3k instructions per request (callgrind, Dec 2026).
func traceRoot(header string) string {
	if len(header) > 5 && header[:5] == "Root=" {
		v := header[5:]
		if i := strings.IndexByte(v, ';'); i >= 0 {
			v = v[:i]
		}
		if v != "" {
			if c := v[len(v)-1]; '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				return v
			}
		}
	}
	return ids.Root(header)
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
