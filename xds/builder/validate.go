package builder

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// validateAnys runs ValidateAll on the message inside every Any in m, at any depth (a FilterConfig's config inside
// typed_per_filter_config, an HCM inside a listener's typed_config). A resource's own ValidateAll stops at an Any,
// but Envoy unpacks each one and validates what it finds before it uses it (MessageUtil::anyConvertAndValidate,
// source/common/protobuf/utility.h, e.g. for per-route filter configs in router/per_filter_config.cc; main
// 1.37.0-dev 321a098d81): a HeaderValue.value over 16,384 bytes in an ExtProcPerRoute's grpc_initial_metadata
// NACKs the whole RouteConfiguration. The error names the path down to the offending Any, with names instead of
// indices where the elements have one (a route's name, a filter's name).
func validateAnys(m protoreflect.Message, path string) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if v, ok := inner.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				return fmt.Errorf("%s (%s): %w", path, a.GetTypeUrl(), err)
			}
		}
		return validateAnys(inner.ProtoReflect(), path)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = validateAnys(l.Get(i).Message(), p+"["+elementName(l.Get(i).Message(), i)+"]")
			}
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateAnys(mv.Message(), p+"["+strconv.Quote(k.String())+"]")
				return err == nil
			})
		default:
			err = validateAnys(v.Message(), p)
		}
		return err == nil
	})
	return err
}

// elementName is a list element's name field, quoted, or its index.
func elementName(m protoreflect.Message, i int) string {
	if fd := m.Descriptor().Fields().ByName("name"); fd != nil && fd.Kind() == protoreflect.StringKind {
		if n := m.Get(fd).String(); n != "" {
			return strconv.Quote(n)
		}
	}
	return strconv.Itoa(i)
}
