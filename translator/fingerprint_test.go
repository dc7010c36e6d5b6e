package translator

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/proxyplus/proxyplus/internal/refapi"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// setField sets fd of m to a non-default value: variant 0 and 1 differ. Messages are set present but empty
// (variant 0) or with their first field set (variant 1); lists and maps get one element.
func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, variant int) {
	scalar := func(fd protoreflect.FieldDescriptor) protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.StringKind:
			return protoreflect.ValueOfString(fmt.Sprintf("v%d", variant))
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(variant == 0 || fd.ContainingMessage().IsMapEntry())
		case protoreflect.Int32Kind:
			return protoreflect.ValueOfInt32(int32(7 + variant))
		}
		panic(fmt.Sprintf("field %s: kind %v not handled by the test", fd.FullName(), fd.Kind()))
	}
	message := func(sub protoreflect.Message) protoreflect.Value {
		if variant == 1 {
			setField(sub, sub.Descriptor().Fields().Get(0), 0)
		}
		return protoreflect.ValueOfMessage(sub)
	}
	switch {
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		key := protoreflect.ValueOfString("k").MapKey()
		if fd.MapValue().Kind() == protoreflect.MessageKind {
			mp.Set(key, message(mp.NewValue().Message()))
		} else {
			mp.Set(key, scalar(fd.MapValue()))
		}
	case fd.IsList():
		m.Mutable(fd).List().Append(scalar(fd))
	case fd.Kind() == protoreflect.MessageKind:
		m.Set(fd, message(m.NewField(fd).Message()))
	default:
		m.Set(fd, scalar(fd))
	}
}

// TestFingerprintCoversEveryField: setting any one field of a Method, at any depth (its Integration, the
// Integration's TlsConfig and IntegrationResponses), to either of two values gives a fingerprint of its own. A
// field added to the protos and not to appendMethodFingerprint fails here.
func TestFingerprintCoversEveryField(t *testing.T) {
	type named struct {
		what string
		m    *apigatewayv1.Method
	}
	seen := map[string]named{string(appendMethodFingerprint(nil, &apigatewayv1.Method{})): {"empty", &apigatewayv1.Method{}}}
	check := func(what string, m *apigatewayv1.Method) {
		fp := string(appendMethodFingerprint(nil, m))
		if other, dup := seen[fp]; dup && !proto.Equal(other.m, m) {
			t.Errorf("%s has the fingerprint of %s: a field is not fingerprinted", what, other.what)
		}
		seen[fp] = named{what, m}
	}
	fields := (&apigatewayv1.Method{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		for variant := range 2 {
			m := &apigatewayv1.Method{}
			setField(m.ProtoReflect(), fd, variant)
			check(fmt.Sprintf("Method.%s (%d)", fd.Name(), variant), m)
		}
	}
	// One level down: each field of the Integration, and of an IntegrationResponse and the TlsConfig inside it.
	inFields := (&apigatewayv1.Integration{}).ProtoReflect().Descriptor().Fields()
	for i := range inFields.Len() {
		fd := inFields.Get(i)
		for variant := range 2 {
			m := &apigatewayv1.Method{Integration: &apigatewayv1.Integration{}}
			setField(m.Integration.ProtoReflect(), fd, variant)
			check(fmt.Sprintf("Integration.%s (%d)", fd.Name(), variant), m)
		}
	}
	for _, sub := range []protoreflect.Message{(&apigatewayv1.IntegrationResponse{}).ProtoReflect(), (&apigatewayv1.TlsConfig{}).ProtoReflect()} {
		subFields := sub.Descriptor().Fields()
		for i := range subFields.Len() {
			fd := subFields.Get(i)
			for variant := range 2 {
				m := &apigatewayv1.Method{Integration: &apigatewayv1.Integration{}}
				if sub.Descriptor().Name() == "TlsConfig" {
					m.Integration.TlsConfig = &apigatewayv1.TlsConfig{}
					setField(m.Integration.TlsConfig.ProtoReflect(), fd, variant)
				} else {
					r := &apigatewayv1.IntegrationResponse{}
					setField(r.ProtoReflect(), fd, variant)
					m.Integration.IntegrationResponses = map[string]*apigatewayv1.IntegrationResponse{"200": r}
				}
				check(fmt.Sprintf("%s.%s (%d)", sub.Descriptor().Name(), fd.Name(), variant), m)
			}
		}
	}
	// The message types fingerprinted are all there is below Method.
	var walk func(md protoreflect.MessageDescriptor)
	covered := map[protoreflect.FullName]bool{"proxyplus.apigateway.v1.Method": true, "proxyplus.apigateway.v1.Integration": true,
		"proxyplus.apigateway.v1.IntegrationResponse": true, "proxyplus.apigateway.v1.TlsConfig": true}
	walk = func(md protoreflect.MessageDescriptor) {
		if md.IsMapEntry() {
			if v := md.Fields().ByNumber(2); v.Message() != nil {
				walk(v.Message())
			}
			return
		}
		if !covered[md.FullName()] {
			t.Errorf("message %s below Method is not fingerprinted", md.FullName())
			return
		}
		fs := md.Fields()
		for i := range fs.Len() {
			if m := fs.Get(i).Message(); m != nil {
				walk(m)
			}
		}
	}
	walk((&apigatewayv1.Method{}).ProtoReflect().Descriptor())
}

// TestFingerprintIsCanonical: the same method built with its maps filled in another order fingerprints the same.
func TestFingerprintIsCanonical(t *testing.T) {
	a := &apigatewayv1.Method{RequestParameters: map[string]bool{}, Integration: &apigatewayv1.Integration{RequestTemplates: map[string]string{}}}
	b := &apigatewayv1.Method{RequestParameters: map[string]bool{}, Integration: &apigatewayv1.Integration{RequestTemplates: map[string]string{}}}
	for i := range 50 {
		k := fmt.Sprintf("k%02d", i)
		a.RequestParameters[k], a.Integration.RequestTemplates[k] = i%2 == 0, k
	}
	for i := 49; i >= 0; i-- {
		k := fmt.Sprintf("k%02d", i)
		b.RequestParameters[k], b.Integration.RequestTemplates[k] = i%2 == 0, k
	}
	if string(appendMethodFingerprint(nil, a)) != string(appendMethodFingerprint(nil, b)) {
		t.Fatal("equal methods fingerprint differently")
	}
}

// BenchmarkMethodFingerprint: REF-API(10000)'s methods, fingerprinted (what every edit of that API pays).
func BenchmarkMethodFingerprint(b *testing.B) {
	api := refapi.New(10_000)
	var buf []byte
	for b.Loop() {
		for _, r := range api.Resources {
			for _, m := range r.ResourceMethods {
				buf = appendMethodFingerprint(buf[:0], m)
			}
		}
	}
}
