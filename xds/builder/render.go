package builder

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonOptions render resources the way Envoy's docs show them (proto field names); every Any carries @type.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// MarshalResource renders one resource as JSON.
func MarshalResource(m proto.Message) (json.RawMessage, error) {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	// protojson's whitespace is deliberately unstable; compact it so output is byte-stable.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Document is the `translate` output: {"listeners","routes","clusters","endpoints"} plus any extra keys.
type Document struct {
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	// ScopedRoutes are set when the route configuration is split per Host scope (scoped.go).
	ScopedRoutes []json.RawMessage `json:"scoped_routes,omitempty"`
	Clusters     []json.RawMessage `json:"clusters"`
	Endpoints    []json.RawMessage `json:"endpoints"`
	Warnings     any               `json:"warnings,omitempty"`
}

// Document renders the resources.
func (r *Resources) Document() (*Document, error) {
	d := &Document{Listeners: []json.RawMessage{}, Routes: []json.RawMessage{}, Clusters: []json.RawMessage{}, Endpoints: []json.RawMessage{}}
	add := func(dst *[]json.RawMessage, m proto.Message, kind string) error {
		b, err := MarshalResource(m)
		if err != nil {
			return fmt.Errorf("render %s: %w", kind, err)
		}
		*dst = append(*dst, b)
		return nil
	}
	for _, l := range r.Listeners {
		if err := add(&d.Listeners, l, "listener "+l.GetName()); err != nil {
			return nil, err
		}
	}
	for _, rc := range r.Routes {
		if err := add(&d.Routes, rc, "route configuration "+rc.GetName()); err != nil {
			return nil, err
		}
	}
	for _, sr := range r.ScopedRoutes {
		if err := add(&d.ScopedRoutes, sr, "scoped route configuration "+sr.GetName()); err != nil {
			return nil, err
		}
	}
	for _, c := range r.Clusters {
		if err := add(&d.Clusters, c, "cluster "+c.GetName()); err != nil {
			return nil, err
		}
	}
	return d, nil
}
