package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// API keys and usage plans (issue 11 scope 3). They live in the same store as the APIs (store.KeyStore) and reach
// the authorization service without a deployment, as on API Gateway.

// keyStore is the store's KeyStore; UNIMPLEMENTED when the store has none.
func (s *Server) keyStore() (store.KeyStore, error) {
	ks, ok := s.opts.Store.(store.KeyStore)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this store keeps no API keys or usage plans")
	}
	return ks, nil
}

// generatedKeyValueLength is the length of the values PutApiKey generates (API Gateway generates 40).
const generatedKeyValueLength = 40

// newKeyValue is a random key value of letters and digits.
func newKeyValue() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, generatedKeyValueLength)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("api key value: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // 256 = 4·62 + 8: a slight bias, far below what guessing needs
	}
	return string(b), nil
}

// redacted is k without its value unless include.
func redacted(k *adminv1.ApiKey, include bool) *adminv1.ApiKey {
	if include {
		return k
	}
	c := proto.Clone(k).(*adminv1.ApiKey)
	c.Value = ""
	return c
}

// PutApiKey creates or replaces an API key; an empty value on creation is generated. The response carries the
// value (the caller wrote it or needs the generated one).
func (s *Server) PutApiKey(ctx context.Context, req *adminv1.PutApiKeyRequest) (*adminv1.PutApiKeyResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	k := req.GetApiKey()
	if k == nil {
		return nil, fieldError("api_key", "api_key is required")
	}
	if k.GetValue() == "" {
		if k.GetId() != "" {
			// Replacing a key keeps its value unless a new one is given.
			if cur, err := ks.GetAPIKey(ctx, k.GetId()); err == nil {
				k = proto.Clone(k).(*adminv1.ApiKey)
				k.Value = cur.GetValue()
			}
		}
		if k.GetValue() == "" {
			v, err := newKeyValue()
			if err != nil {
				return nil, s.internal(ctx, "PutApiKey", err)
			}
			k = proto.Clone(k).(*adminv1.ApiKey)
			k.Value = v
		}
	}
	out, err := ks.PutAPIKey(ctx, k, store.Revision(req.GetExpectedRevision()))
	if err != nil {
		return nil, s.storeError(ctx, "PutApiKey", err)
	}
	return &adminv1.PutApiKeyResponse{ApiKey: out}, nil
}

// GetApiKey returns one key, its value only with include_value.
func (s *Server) GetApiKey(ctx context.Context, req *adminv1.GetApiKeyRequest) (*adminv1.GetApiKeyResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	if err := required("id", req.GetId()); err != nil {
		return nil, err
	}
	k, err := ks.GetAPIKey(ctx, req.GetId())
	if err != nil {
		return nil, s.storeError(ctx, "GetApiKey", err)
	}
	return &adminv1.GetApiKeyResponse{ApiKey: redacted(k, req.GetIncludeValue())}, nil
}

// ListApiKeys lists every key by id, values only with include_value.
func (s *Server) ListApiKeys(ctx context.Context, req *adminv1.ListApiKeysRequest) (*adminv1.ListApiKeysResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	list, err := ks.ListAPIKeys(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "ListApiKeys", err)
	}
	resp := &adminv1.ListApiKeysResponse{}
	for _, k := range list {
		resp.ApiKeys = append(resp.ApiKeys, redacted(k, req.GetIncludeValue()))
	}
	return resp, nil
}

// DeleteApiKey deletes a key and takes it out of its usage plans.
func (s *Server) DeleteApiKey(ctx context.Context, req *adminv1.DeleteApiKeyRequest) (*adminv1.DeleteApiKeyResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	if err := required("id", req.GetId()); err != nil {
		return nil, err
	}
	if err := ks.DeleteAPIKey(ctx, req.GetId(), store.Revision(req.GetExpectedRevision())); err != nil {
		return nil, s.storeError(ctx, "DeleteApiKey", err)
	}
	return &adminv1.DeleteApiKeyResponse{}, nil
}

// PutUsagePlan creates or replaces a usage plan.
func (s *Server) PutUsagePlan(ctx context.Context, req *adminv1.PutUsagePlanRequest) (*adminv1.PutUsagePlanResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	if req.GetUsagePlan() == nil {
		return nil, fieldError("usage_plan", "usage_plan is required")
	}
	out, err := ks.PutUsagePlan(ctx, req.GetUsagePlan(), store.Revision(req.GetExpectedRevision()))
	if err != nil {
		return nil, s.storeError(ctx, "PutUsagePlan", err)
	}
	return &adminv1.PutUsagePlanResponse{UsagePlan: out}, nil
}

// GetUsagePlan returns one plan.
func (s *Server) GetUsagePlan(ctx context.Context, req *adminv1.GetUsagePlanRequest) (*adminv1.GetUsagePlanResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	if err := required("id", req.GetId()); err != nil {
		return nil, err
	}
	p, err := ks.GetUsagePlan(ctx, req.GetId())
	if err != nil {
		return nil, s.storeError(ctx, "GetUsagePlan", err)
	}
	return &adminv1.GetUsagePlanResponse{UsagePlan: p}, nil
}

// ListUsagePlans lists every plan by id.
func (s *Server) ListUsagePlans(ctx context.Context, _ *adminv1.ListUsagePlansRequest) (*adminv1.ListUsagePlansResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	list, err := ks.ListUsagePlans(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "ListUsagePlans", err)
	}
	return &adminv1.ListUsagePlansResponse{UsagePlans: list}, nil
}

// DeleteUsagePlan deletes a plan (its keys stay).
func (s *Server) DeleteUsagePlan(ctx context.Context, req *adminv1.DeleteUsagePlanRequest) (*adminv1.DeleteUsagePlanResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	if err := required("id", req.GetId()); err != nil {
		return nil, err
	}
	if err := ks.DeleteUsagePlan(ctx, req.GetId(), store.Revision(req.GetExpectedRevision())); err != nil {
		return nil, s.storeError(ctx, "DeleteUsagePlan", err)
	}
	return &adminv1.DeleteUsagePlanResponse{}, nil
}

// keysDocument is the export format: protobuf JSON of each record.
type keysDocument struct {
	APIKeys    []json.RawMessage `json:"apiKeys"`
	UsagePlans []json.RawMessage `json:"usagePlans"`
}

// maxImportRecords bounds an import (each record is one store write).
const maxImportRecords = 10000

// ExportApiKeys writes every key, values included, and every plan.
func (s *Server) ExportApiKeys(ctx context.Context, _ *adminv1.ExportApiKeysRequest) (*adminv1.ExportApiKeysResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	keys, err := ks.ListAPIKeys(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "ExportApiKeys", err)
	}
	plans, err := ks.ListUsagePlans(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "ExportApiKeys", err)
	}
	doc := keysDocument{APIKeys: []json.RawMessage{}, UsagePlans: []json.RawMessage{}}
	mo := protojson.MarshalOptions{}
	for _, k := range keys {
		k.Revision, k.CreateTime, k.UpdateTime = 0, nil, nil
		b, err := mo.Marshal(k)
		if err != nil {
			return nil, s.internal(ctx, "ExportApiKeys", err)
		}
		doc.APIKeys = append(doc.APIKeys, b)
	}
	for _, p := range plans {
		p.Revision, p.UpdateTime = 0, nil
		b, err := mo.Marshal(p)
		if err != nil {
			return nil, s.internal(ctx, "ExportApiKeys", err)
		}
		doc.UsagePlans = append(doc.UsagePlans, b)
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, s.internal(ctx, "ExportApiKeys", err)
	}
	return &adminv1.ExportApiKeysResponse{Body: body}, nil
}

// ImportApiKeys puts what ExportApiKeys wrote: keys first (plans name them), each by id, replacing existing ones.
func (s *Server) ImportApiKeys(ctx context.Context, req *adminv1.ImportApiKeysRequest) (*adminv1.ImportApiKeysResponse, error) {
	ks, err := s.keyStore()
	if err != nil {
		return nil, err
	}
	var doc keysDocument
	if err := json.Unmarshal(req.GetBody(), &doc); err != nil {
		return nil, fieldError("body", fmt.Sprintf("not an API key export: %v", err))
	}
	if n := len(doc.APIKeys) + len(doc.UsagePlans); n > maxImportRecords {
		return nil, fieldError("body", fmt.Sprintf("%d records, at most %d per import", n, maxImportRecords))
	}
	uo := protojson.UnmarshalOptions{}
	resp := &adminv1.ImportApiKeysResponse{}
	for i, raw := range doc.APIKeys {
		k := &adminv1.ApiKey{}
		if err := uo.Unmarshal(raw, k); err != nil {
			return nil, fieldError(fmt.Sprintf("body.apiKeys[%d]", i), err.Error())
		}
		if k.GetId() == "" {
			return nil, fieldError(fmt.Sprintf("body.apiKeys[%d].id", i), "id is required on import")
		}
		if _, err := ks.PutAPIKey(ctx, k, 0); err != nil {
			return nil, s.storeError(ctx, "ImportApiKeys", fmt.Errorf("apiKeys[%d]: %w", i, err))
		}
		resp.ApiKeys++
	}
	for i, raw := range doc.UsagePlans {
		p := &adminv1.UsagePlan{}
		if err := uo.Unmarshal(raw, p); err != nil {
			return nil, fieldError(fmt.Sprintf("body.usagePlans[%d]", i), err.Error())
		}
		if p.GetId() == "" {
			return nil, fieldError(fmt.Sprintf("body.usagePlans[%d].id", i), "id is required on import")
		}
		if _, err := ks.PutUsagePlan(ctx, p, 0); err != nil {
			return nil, s.storeError(ctx, "ImportApiKeys", fmt.Errorf("usagePlans[%d]: %w", i, err))
		}
		resp.UsagePlans++
	}
	return resp, nil
}
