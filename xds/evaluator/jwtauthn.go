package evaluator

import (
	"crypto/rsa"
	_ "crypto/sha256" // registers SHA-256, which jwt.SigningMethodRS256 looks up through crypto.Hash
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/types/known/structpb"
)

// The jwt_authn filter as proxyplus configures it (xds/builder/jwtauthn.go), modelled from Envoy
// source/extensions/filters/http/jwt_authn/ (main 1.37.0-dev, 321a098d81):
//   - filter.cc Filter::decodeHeaders: the route's PerRouteConfig.requirement_name picks the verifier
//     (FilterConfigImpl::findPerRouteVerifier); an unknown name answers 403 "Failed JWT authentication: ..."
//     (refused at compile time here); a route without a per-route config has no verifier (no rules are modelled).
//   - extractor.cc: from_headers with an empty value_prefix takes the whole header value as the token.
//   - authenticator.cc AuthenticatorImpl::verify/startVerify: no token → JwtMissed; the token is parsed
//     (JwtBadFormat and friends), its iss must be the provider's issuer (JwtUnknownIssuer), time constraints with
//     clock_skew_seconds (0 → 60): exp < now - skew → JwtExpired, nbf > now + skew → JwtNotYetValid
//     (jwt_verify_lib Jwt::verifyTimeConstraint), audiences, then the key: a JWKS key with the token's kid (when
//     both have one) and alg verifies the signature (JwksKidAlgMismatch / JwtVerificationFail).
//     handleGoodJwt writes the payload under payload_in_metadata; doneWithStatus writes {code, message} under
//     failed_status_in_metadata.
//   - verifier.cc: provider_name verifies one provider; requires_any succeeds with the first provider that does,
//     else fails with the last status (AnyVerifierImpl); the extracted data is set before onComplete.
//   - filter.cc Filter::onComplete: failure → sendLocalReply(401; 403 for JwtAudienceNotAllowed), body the status
//     message or, with strip_failure_response, empty; details "jwt_authn_access_denied{<message>}" with spaces
//     replaced by "_" (generateRcDetails).
//
// The JWKS is not fetched: the caller supplies it (test-invoke --jwks), standing for what remote_jwks fetches.
// Status messages are jwt_verify_lib's getStatusString (src/status.cc of the library Envoy links).

// JWTAuthnRequirement is the jwt_authn requirement of the selected route.
type JWTAuthnRequirement struct {
	Name      string
	Providers []JWTProvider
	// StripFailureResponse is the filter's strip_failure_response.
	StripFailureResponse bool
}

// JWTProvider is one jwt_authn provider as the evaluator models it.
type JWTProvider struct {
	Name                   string
	Issuer                 string
	Header                 string
	PayloadInMetadata      string
	FailedStatusInMetadata string
	ClockSkew              time.Duration
}

// JWTOutcome is what jwt_authn did: the dynamic metadata it set (namespace envoy.filters.http.jwt_authn) and, on
// failure, the local reply's status, body and details.
type JWTOutcome struct {
	Metadata *structpb.Struct
	Failed   bool
	Status   int
	Body     string
	Details  string
	Message  string
}

// JWKS is a JSON Web Key Set's RSA keys.
type JWKS struct {
	keys []jwk
}

type jwk struct {
	kid, alg string
	key      *rsa.PublicKey
}

// ParseJWKS reads a JSON Web Key Set; only RSA keys are used (Cognito signs with RS256).
func ParseJWKS(b []byte) (*JWKS, error) {
	var raw struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := &JWKS{}
	for i, k := range raw.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
		if err != nil {
			return nil, fmt.Errorf("JWKS keys[%d].n: %w", i, err)
		}
		e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("JWKS keys[%d].e is not a base64url exponent", i)
		}
		out.keys = append(out.keys, jwk{kid: k.Kid, alg: k.Alg, key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}})
	}
	if len(out.keys) == 0 {
		return nil, fmt.Errorf("JWKS has no RSA key")
	}
	return out, nil
}

func compileJWTAuthn(ja *jwtauthnv3.JwtAuthentication, l loc) (map[string]*JWTAuthnRequirement, error) {
	if err := onlyFields(ja, l, "providers", "requirement_map", "strip_failure_response"); err != nil {
		return nil, err
	}
	providers := map[string]JWTProvider{}
	for name, p := range ja.GetProviders() {
		pl := l.at(fmt.Sprintf("providers[%q]", name))
		// forward: true and no header/claim forwarding: the filter changes no request header, so what later
		// filters see is the request as decoded.
		if err := onlyFields(p, pl, "issuer", "from_headers", "forward", "remote_jwks", "local_jwks", "payload_in_metadata",
			"failed_status_in_metadata", "clock_skew_seconds"); err != nil {
			return nil, err
		}
		if !p.GetForward() {
			return nil, pl.at("forward").errf("only forward: true is modelled (the token header stays)")
		}
		if len(p.GetFromHeaders()) != 1 || p.GetFromHeaders()[0].GetValuePrefix() != "" {
			return nil, pl.at("from_headers").errf("only one header without value_prefix is modelled")
		}
		skew := time.Duration(p.GetClockSkewSeconds()) * time.Second
		if skew == 0 {
			skew = 60 * time.Second // jwt_verify_lib kClockSkewInSecond
		}
		providers[name] = JWTProvider{Name: name, Issuer: p.GetIssuer(), Header: asciiLower(p.GetFromHeaders()[0].GetName()),
			PayloadInMetadata: p.GetPayloadInMetadata(), FailedStatusInMetadata: p.GetFailedStatusInMetadata(), ClockSkew: skew}
	}
	out := map[string]*JWTAuthnRequirement{}
	for name, r := range ja.GetRequirementMap() {
		rl := l.at(fmt.Sprintf("requirement_map[%q]", name))
		req := &JWTAuthnRequirement{Name: name, StripFailureResponse: ja.GetStripFailureResponse()}
		var names []string
		switch x := r.GetRequiresType().(type) {
		case *jwtauthnv3.JwtRequirement_ProviderName:
			names = []string{x.ProviderName}
		case *jwtauthnv3.JwtRequirement_RequiresAny:
			for i, s := range x.RequiresAny.GetRequirements() {
				pn, ok := s.GetRequiresType().(*jwtauthnv3.JwtRequirement_ProviderName)
				if !ok {
					return nil, rl.at(fmt.Sprintf("requires_any.requirements[%d]", i)).errf("only provider_name inside requires_any is modelled")
				}
				names = append(names, pn.ProviderName)
			}
		default:
			return nil, rl.errf("requirement %T is not modelled", x)
		}
		for _, n := range names {
			p, ok := providers[n]
			if !ok {
				// FilterConfigImpl: "Wrong requirement_map: provider_name: <n> is not defined"
				return nil, rl.errf("Envoy rejects this configuration: provider %q is not defined", n)
			}
			req.Providers = append(req.Providers, p)
		}
		out[name] = req
	}
	return out, nil
}

// JWT status messages (jwt_verify_lib getStatusString).
const (
	jwtMissed        = "Jwt is missing"
	jwtExpired       = "Jwt is expired"
	jwtNotYetValid   = "Jwt not yet valid"
	jwtBadFormat     = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
	jwtUnknownIssuer = "Jwt issuer is not configured"
	jwtKidAlg        = "Jwks doesn't have key to match kid or alg from Jwt"
	jwtVerifyFail    = "Jwt verification fails"
)

// errNeedKeys marks a token that got as far as the signature without a key set to check it against.
const errNeedKeys = "\x00need keys"

// jwtStatusCode is the Status enum value jwt_verify_lib gives each message (status.h), written as "code".
var jwtStatusCode = map[string]float64{jwtMissed: 1, jwtNotYetValid: 2, jwtExpired: 3, jwtBadFormat: 4, jwtUnknownIssuer: 16, jwtKidAlg: 31, jwtVerifyFail: 33}

// VerifyJWT plays the selected route's jwt_authn requirement on req with jwks as the providers' key set, at now.
func (e *Evaluator) VerifyJWT(sel *Selection, req *Request, jwks *JWKS, now time.Time) (*JWTOutcome, error) {
	r := sel.JWTAuthn
	if r == nil {
		return nil, fmt.Errorf("evaluator: the selected route does not enable jwt_authn")
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	// The providers run in order and stop at the first success (BaseGroupVerifierImpl::verify); each writes its
	// payload or failure status under its own key (ContextImpl::addExtractedData); with none good the reply's status
	// is AnyVerifierImpl::onComplete's aggregate, preferring errors other than JwtMissed and JwtUnknownIssuer.
	md := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	last := jwtMissed
	for _, p := range r.Providers {
		token, ok := d.h.first(p.Header)
		msg, payload := "", (*structpb.Struct)(nil)
		if !ok {
			msg = jwtMissed
		} else {
			msg, payload = verifyToken(token, p, jwks, now)
		}
		if msg == errNeedKeys {
			return nil, fmt.Errorf("evaluator: jwt_authn needs the user pool's JWKS to verify the token's signature (remote_jwks is not fetched; test-invoke --jwks)")
		}
		if msg == "" {
			if p.PayloadInMetadata != "" {
				md.Fields[p.PayloadInMetadata] = structpb.NewStructValue(payload)
			}
			return &JWTOutcome{Metadata: md}, nil
		}
		if p.FailedStatusInMetadata != "" {
			md.Fields[p.FailedStatusInMetadata] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
				"code": structpb.NewNumberValue(jwtStatusCode[msg]), "message": structpb.NewStringValue(msg),
			}})
		}
		if (msg != jwtMissed && msg != jwtUnknownIssuer) || last == jwtMissed {
			last = msg
		}
	}
	out := &JWTOutcome{Metadata: md, Failed: true, Status: 401, Message: last,
		Details: "jwt_authn_access_denied{" + strings.ReplaceAll(last, " ", "_") + "}"}
	if !r.StripFailureResponse {
		out.Body = last
	}
	return out, nil
}

// verifyToken is startVerify for one provider: "" and the payload when the token is good, else the status message.
func verifyToken(token string, p JWTProvider, jwks *JWKS, now time.Time) (string, *structpb.Struct) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwtBadFormat, nil
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return jwtBadFormat, nil
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims map[string]any
	if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(pb, &claims) != nil {
		return jwtBadFormat, nil
	}
	payload, err := structpb.NewStruct(claims)
	if err != nil {
		return jwtBadFormat, nil
	}
	if iss, _ := claims["iss"].(string); iss != p.Issuer {
		return jwtUnknownIssuer, nil
	}
	unix := func(k string) (int64, bool) {
		f, ok := claims[k].(float64)
		return int64(f), ok
	}
	n := now.Unix()
	skew := int64(p.ClockSkew / time.Second)
	if nbf, ok := unix("nbf"); ok && nbf > n+skew {
		return jwtNotYetValid, nil
	}
	if exp, ok := unix("exp"); ok && exp > 0 && exp < n-skew {
		return jwtExpired, nil
	}
	if hdr.Alg != "RS256" {
		return jwtKidAlg, nil
	}
	if jwks == nil {
		return errNeedKeys, nil
	}
	found := false
	for _, k := range jwks.keys {
		if (hdr.Kid != "" && k.kid != "" && k.kid != hdr.Kid) || (k.alg != "" && k.alg != hdr.Alg) {
			continue
		}
		found = true
		if jwt.SigningMethodRS256.Verify(parts[0]+"."+parts[1], sig, k.key) == nil {
			return "", payload
		}
	}
	if !found {
		return jwtKidAlg, nil
	}
	return jwtVerifyFail, nil
}
