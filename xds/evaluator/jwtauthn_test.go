package evaluator_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

const testIssuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TESTPOOL"

// cognitoEvaluator is the evaluator over the configuration proxyplus generates for one Cognito route.
func cognitoEvaluator(t *testing.T, pools ...ir.UserPool) *evaluator.Evaluator {
	t.Helper()
	key, err := ir.NewRouteKey(make([]byte, ir.MinRouteKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) == 0 {
		pools = []ir.UserPool{{Region: "us-east-1", ID: "us-east-1_TESTPOOL"}}
	}
	cfg := &ir.Config{
		Listener: ir.Listener{Name: "l", Address: "0.0.0.0", Port: 8080},
		ExtProc:  ir.ExtProcService{ClusterName: "proxyplus_extproc", Address: "127.0.0.1:9002", MessageTimeout: ir.Duration(30 * time.Second), RouteKeys: ir.RouteKeys{key}},
		APIs: []ir.API{{ID: "a1b2c3d4e5", Hosts: []string{"a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"}, Stages: []ir.Stage{{Name: "prod", DeploymentID: "d1",
			Routes: []ir.Route{{Name: "a1b2c3d4e5/prod/me/GET", ResourceID: "me", ResourcePath: "/me", Segments: []ir.Segment{{Kind: ir.Literal, Text: "me"}}, Method: "GET",
				Integration: ir.Integration{Type: ir.AWSProxy, Lambda: &ir.LambdaIntegration{FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:echo", Timeout: ir.Duration(29 * time.Second)}},
				Authorization: &ir.Authorization{Type: ir.AuthCognito, Cognito: &ir.CognitoAuthorizer{Name: "pool", TokenHeader: "Authorization",
					Pools: pools}}}}}}}},
	}
	res, err := builder.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := res.HTTPConnectionManager()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluator.New(res.Routes[0], hcm)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func jwksOf(t *testing.T, pub *rsa.PublicKey, kid string) *evaluator.JWKS {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "alg": "RS256", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := evaluator.ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTAuthnModel: jwt_authn as proxyplus configures it and the HCM's mappers give API Gateway's Cognito answers:
// a missing, forged, foreign or not-yet-valid token → 401 {"message":"Unauthorized"}, an expired one → 401 {"message":
// "The incoming token has expired"}; a good token passes with its claims in jwt_authn's dynamic metadata.
func TestJWTAuthnModel(t *testing.T) {
	ev := cognitoEvaluator(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jwksOf(t, &key.PublicKey, "k1")
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	good := jwt.MapClaims{"iss": testIssuer, "sub": "alice", "token_use": "id", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	for _, tc := range []struct {
		name   string
		token  string
		status int
		body   string
	}{
		{"missing", "", 401, `{"message":"Unauthorized"}`},
		{"malformed", "not-a-jwt", 401, `{"message":"Unauthorized"}`},
		{"expired", sign(t, key, "k1", with("exp", now.Add(-time.Hour).Unix())), 401, `{"message":"The incoming token has expired"}`},
		{"not yet valid", sign(t, key, "k1", with("nbf", now.Add(time.Hour).Unix())), 401, `{"message":"Unauthorized"}`},
		{"other issuer", sign(t, key, "k1", with("iss", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER")), 401, `{"message":"Unauthorized"}`},
		{"forged", sign(t, other, "k1", good), 401, `{"message":"Unauthorized"}`},
		{"unknown kid", sign(t, key, "k2", good), 401, `{"message":"Unauthorized"}`},
		{"good", sign(t, key, "k1", good), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &evaluator.Request{Method: "GET", Path: "/prod/me", Scheme: "http", Authority: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
				RemoteAddr: "192.0.2.1:5000", LocalAddr: "127.0.0.1:8080"}
			if tc.token != "" {
				req.Headers = [][2]string{{"authorization", tc.token}}
			}
			sel, err := ev.Select(req)
			if err != nil {
				t.Fatal(err)
			}
			if sel.JWTAuthn == nil || sel.ExtAuthz == nil {
				t.Fatalf("route enables jwt_authn %v, ext_authz %v; want both", sel.JWTAuthn != nil, sel.ExtAuthz != nil)
			}
			o, err := ev.VerifyJWT(sel, req, jwks, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				if o.Failed {
					t.Fatalf("good token refused: %s", o.Message)
				}
				claims := o.Metadata.GetFields()[builder.CognitoPayloadKey].GetStructValue()
				if claims.GetFields()["sub"].GetStringValue() != "alice" {
					t.Errorf("claims in metadata: %v", o.Metadata)
				}
				return
			}
			if !o.Failed {
				t.Fatalf("token accepted")
			}
			r, err := ev.JWTAuthnReply(sel, req, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || string(r.Body) != tc.body {
				t.Errorf("reply %d %s, want %d %s", r.Status, r.Body, tc.status, tc.body)
			}
			if len(r.Header("www-authenticate")) != 0 {
				t.Errorf("www-authenticate sent: strip_failure_response should drop it")
			}
			if v := r.Header("x-amzn-errortype"); len(v) != 1 || v[0] != "UnauthorizedException" {
				t.Errorf("x-amzn-ErrorType %v", v)
			}
		})
	}
}

// FuzzVerifyToken: no token value makes the jwt_authn model panic.
func FuzzVerifyToken(f *testing.F) {
	ev := cognitoEvaluator(&testing.T{})
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	jwks := jwksOf(&testing.T{}, &key.PublicKey, "k1")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.AAAA")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.eyJleHAiOiJ4In0.")
	f.Fuzz(func(t *testing.T, token string) {
		req := &evaluator.Request{Method: "GET", Path: "/prod/me", Scheme: "http", Authority: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
			RemoteAddr: "192.0.2.1:5000", LocalAddr: "127.0.0.1:8080", Headers: [][2]string{{"authorization", token}}}
		sel, err := ev.Select(req)
		if err != nil {
			return // Envoy refuses such a header value before routing
		}
		if sel.JWTAuthn == nil {
			return
		}
		_, _ = ev.VerifyJWT(sel, req, jwks, time.Now())
	})
}

// TestJWTAuthnTwoPools: with an authorizer of two pools, an expired token of the first pool is still "expired"
// although the second pool's provider, which runs after it, fails it as a foreign issuer (AnyVerifierImpl prefers the other error; each
// provider's failure has its own metadata key, which the mappers read).
func TestJWTAuthnTwoPools(t *testing.T) {
	ev := cognitoEvaluator(t, ir.UserPool{Region: "us-east-1", ID: "us-east-1_TESTPOOL"}, ir.UserPool{Region: "eu-west-1", ID: "eu-west-1_OTHERPOOL"})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body string
		exp        time.Time
	}{
		{"expired", `{"message":"The incoming token has expired"}`, now.Add(-time.Hour)},
		{"good", "", now.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := sign(t, key, "k1", jwt.MapClaims{"iss": testIssuer, "token_use": "id", "exp": tc.exp.Unix()})
			req := &evaluator.Request{Method: "GET", Path: "/prod/me", Scheme: "http", Authority: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
				RemoteAddr: "192.0.2.1:5000", LocalAddr: "127.0.0.1:8080", Headers: [][2]string{{"authorization", token}}}
			sel, err := ev.Select(req)
			if err != nil {
				t.Fatal(err)
			}
			o, err := ev.VerifyJWT(sel, req, jwksOf(t, &key.PublicKey, "k1"), now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				if o.Failed {
					t.Fatalf("refused: %s", o.Message)
				}
				return
			}
			r, err := ev.JWTAuthnReply(sel, req, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != 401 || string(r.Body) != tc.body {
				t.Errorf("reply %d %s, want 401 %s", r.Status, r.Body, tc.body)
			}
		})
	}
}
