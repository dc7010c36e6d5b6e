package store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// On-disk format (schema version 1).
//
// Every record is a JSON envelope. Definitions are stored inside the envelope
// as deterministic binary protobuf (proto.MarshalOptions{Deterministic: true}),
// which encoding/json writes as base64. Times are RFC 3339 UTC with
// nanoseconds. Keys are the ids, and for children "<api id>\x00<child id>"
// (ids cannot contain NUL), so a cursor walks one API's children in id order.

const schemaVersion = 1

type apiRecord struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Definition []byte    `json:"definition"`
	Revision   uint64    `json:"revision"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

type deploymentRecord struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	APIID       string    `json:"api_id"`
	Definition  []byte    `json:"definition"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Revision    uint64    `json:"revision"`
}

type stageRecord struct {
	V            int               `json:"v"`
	APIID        string            `json:"api_id"`
	Name         string            `json:"name"`
	DeploymentID string            `json:"deployment_id"`
	Variables    map[string]string `json:"variables,omitempty"`
	Description  string            `json:"description,omitempty"`
	Revision     uint64            `json:"revision"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

func marshalDef(def *apigatewayv1.RestApi) ([]byte, error) {
	b, err := marshalOpts.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("marshal definition: %w", err)
	}
	return b, nil
}

func unmarshalDef(b []byte) (*apigatewayv1.RestApi, error) {
	def := &apigatewayv1.RestApi{}
	if err := proto.Unmarshal(b, def); err != nil {
		return nil, fmt.Errorf("unmarshal definition: %w", err)
	}
	return def, nil
}

func encodeAPI(a *API) ([]byte, error) {
	def, err := marshalDef(a.Definition)
	if err != nil {
		return nil, err
	}
	return json.Marshal(apiRecord{V: schemaVersion, ID: a.ID, Definition: def, Revision: uint64(a.Revision), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
}

func decodeAPI(b []byte) (*API, error) {
	var r apiRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode api: %w", err)
	}
	def, err := unmarshalDef(r.Definition)
	if err != nil {
		return nil, err
	}
	return &API{ID: r.ID, Definition: def, Revision: Revision(r.Revision), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

func encodeDeployment(d *Deployment) ([]byte, error) {
	def, err := marshalDef(d.Definition)
	if err != nil {
		return nil, err
	}
	return json.Marshal(deploymentRecord{V: schemaVersion, ID: d.ID, APIID: d.APIID, Definition: def, Description: d.Description, CreatedAt: d.CreatedAt, Revision: uint64(d.Revision)})
}

func decodeDeployment(b []byte) (*Deployment, error) {
	var r deploymentRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode deployment: %w", err)
	}
	def, err := unmarshalDef(r.Definition)
	if err != nil {
		return nil, err
	}
	return &Deployment{ID: r.ID, APIID: r.APIID, Definition: def, Description: r.Description, CreatedAt: r.CreatedAt, Revision: Revision(r.Revision)}, nil
}

func encodeStage(s *Stage) ([]byte, error) {
	return json.Marshal(stageRecord{V: schemaVersion, APIID: s.APIID, Name: s.Name, DeploymentID: s.DeploymentID, Variables: s.Variables, Description: s.Description, Revision: uint64(s.Revision), UpdatedAt: s.UpdatedAt})
}

func decodeStage(b []byte) (*Stage, error) {
	var r stageRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode stage: %w", err)
	}
	return &Stage{APIID: r.APIID, Name: r.Name, DeploymentID: r.DeploymentID, Variables: nonNilMap(r.Variables), Description: r.Description, Revision: Revision(r.Revision), UpdatedAt: r.UpdatedAt}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// childKey is the key of a deployment or stage.
func childKey(apiID, id string) []byte { return []byte(apiID + "\x00" + id) }

// childPrefix is the key prefix of all children of an API.
func childPrefix(apiID string) []byte { return []byte(apiID + "\x00") }

func revBytes(r Revision) []byte { return binary.BigEndian.AppendUint64(nil, uint64(r)) }

func bytesRev(b []byte) Revision {
	if len(b) != 8 {
		return 0
	}
	return Revision(binary.BigEndian.Uint64(b))
}

// idPattern is what the store accepts as an API id, a stage name or a
// deployment id: letters, digits, - and _, 1 to 128 characters.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%s %q: must be 1-128 letters, digits, - or _: %w", kind, id, ErrInvalidArgument)
	}
	return nil
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// deriveID returns n lower-case alphanumerics derived from the parts. The
// attempt counter resolves (improbable) collisions deterministically.
func deriveID(n int, attempt int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	fmt.Fprintf(h, "%d", attempt)
	sum := h.Sum(nil)
	var sb strings.Builder
	for i := range n {
		sb.WriteByte(idAlphabet[int(sum[i])%len(idAlphabet)])
	}
	return sb.String()
}

// Page tokens are opaque to clients: base64url("v1:" + last returned key).
const tokenPrefix = "v1:"

func encodeToken(lastKey []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte(tokenPrefix), lastKey...))
}

func decodeToken(tok string) ([]byte, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), tokenPrefix) || len(b) == len(tokenPrefix) {
		return nil, fmt.Errorf("page token %q: %w", tok, ErrInvalidArgument)
	}
	return b[len(tokenPrefix):], nil
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("page size %d: %w", n, ErrInvalidArgument)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}
