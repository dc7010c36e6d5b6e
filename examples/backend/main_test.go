package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// do sends one request to a fresh handler unless h is given.
func do(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	if h == nil {
		h = newServer()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not the expected JSON: %v", rec.Body.String(), err)
	}
	return v
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, want, rec.Body.String())
	}
}

func TestListPets(t *testing.T) {
	rec := do(t, nil, http.MethodGet, "/pets", "")
	wantStatus(t, rec, http.StatusOK)
	pets := decode[[]Pet](t, rec)
	want := []Pet{{1, "dog", 249.99}, {2, "cat", 124.99}, {3, "fish", 0.99}}
	if len(pets) != len(want) {
		t.Fatalf("got %d pets, want %d: %+v", len(pets), len(want), pets)
	}
	for i := range want {
		if pets[i] != want[i] {
			t.Errorf("pet %d = %+v, want %+v", i, pets[i], want[i])
		}
	}
	if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length = %q, body is %d bytes", got, rec.Body.Len())
	}
}

func TestCreatePet(t *testing.T) {
	s := newServer()
	rec := do(t, s, http.MethodPost, "/pets", `{"type": "bird", "price": 9.5}`)
	wantStatus(t, rec, http.StatusCreated)
	pet := decode[Pet](t, rec)
	if want := (Pet{ID: 4, Type: "bird", Price: 9.5}); pet != want {
		t.Errorf("created %+v, want %+v", pet, want)
	}
	if loc := rec.Header().Get("Location"); loc != "/pets/4" {
		t.Errorf("Location = %q, want /pets/4", loc)
	}

	// The new pet is listed and can be fetched.
	got := decode[Pet](t, do(t, s, http.MethodGet, "/pets/4", ""))
	if got != pet {
		t.Errorf("GET /pets/4 = %+v, want %+v", got, pet)
	}
	if pets := decode[[]Pet](t, do(t, s, http.MethodGet, "/pets", "")); len(pets) != 4 || pets[3] != pet {
		t.Errorf("list after create = %+v, want the seed pets then %+v", pets, pet)
	}

	// A price may be left out.
	rec = do(t, s, http.MethodPost, "/pets", `{"type": "snake"}`)
	wantStatus(t, rec, http.StatusCreated)
	if p := decode[Pet](t, rec); p.ID != 5 || p.Price != 0 {
		t.Errorf("second pet = %+v, want id 5 and price 0", p)
	}
}

func TestCreatePetRejectsBadBodies(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":       `type=dog`,
		"empty":          ``,
		"no type":        `{"price": 3}`,
		"blank type":     `{"type": "  "}`,
		"negative price": `{"type": "dog", "price": -1}`,
		"wrong type":     `{"type": 7}`,
		"two values":     `{"type": "dog"} {"type": "cat"}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newServer()
			rec := do(t, s, http.MethodPost, "/pets", body)
			wantStatus(t, rec, http.StatusBadRequest)
			if m := decode[map[string]string](t, rec); m["message"] == "" {
				t.Errorf("no message in %s", rec.Body.String())
			}
			if pets := decode[[]Pet](t, do(t, s, http.MethodGet, "/pets", "")); len(pets) != 3 {
				t.Errorf("a refused body added a pet: %+v", pets)
			}
		})
	}
}

func TestCreatePetConcurrentIDsAreUnique(t *testing.T) {
	s := newServer()
	const n = 50
	var wg sync.WaitGroup
	ids := make(chan int, n)
	for range n {
		wg.Go(func() {
			rec := do(t, s, http.MethodPost, "/pets", `{"type": "ant"}`)
			var p Pet
			if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
				t.Errorf("create: %d %s", rec.Code, rec.Body.String())
				return
			}
			ids <- p.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct ids, want %d", len(seen), n)
	}
}

func TestGetPet(t *testing.T) {
	rec := do(t, nil, http.MethodGet, "/pets/2", "")
	wantStatus(t, rec, http.StatusOK)
	if p := decode[Pet](t, rec); p != (Pet{2, "cat", 124.99}) {
		t.Errorf("GET /pets/2 = %+v", p)
	}
}

func TestGetPetMissing(t *testing.T) {
	for _, target := range []string{"/pets/999", "/pets/0", "/pets/abc", "/pets/-1"} {
		t.Run(target, func(t *testing.T) {
			rec := do(t, nil, http.MethodGet, target, "")
			wantStatus(t, rec, http.StatusNotFound)
			m := decode[map[string]string](t, rec)
			if !strings.Contains(m["message"], "not found") {
				t.Errorf("message = %q, want it to say not found", m["message"])
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, tc := range []struct{ method, target, allow string }{
		{http.MethodDelete, "/pets", "GET, HEAD, POST"},
		{http.MethodPut, "/pets", "GET, HEAD, POST"},
		{http.MethodPost, "/pets/1", "GET, HEAD"},
		{http.MethodDelete, "/pets/1", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := do(t, nil, tc.method, tc.target, "")
			wantStatus(t, rec, http.StatusMethodNotAllowed)
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			decode[map[string]string](t, rec)
		})
	}
}

func TestEcho(t *testing.T) {
	req := httptest.NewRequest(http.MethodPatch, "/anything//a%2Fb/?x=1&x=2&y=%C3%A9", strings.NewReader(`{"hello": "world"}`))
	req.Host = "backend:8081"
	req.Header.Set("X-Team", "payments")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	rec := httptest.NewRecorder()
	newServer().ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusOK)

	e := decode[Echo](t, rec)
	if e.Method != http.MethodPatch {
		t.Errorf("method = %q", e.Method)
	}
	if e.URI != "/anything//a%2Fb/?x=1&x=2&y=%C3%A9" {
		t.Errorf("uri = %q, want the raw target unchanged", e.URI)
	}
	if e.Path != "/anything//a/b/" {
		t.Errorf("path = %q, want the decoded path with its doubled slash kept", e.Path)
	}
	if e.RawQuery != "x=1&x=2&y=%C3%A9" {
		t.Errorf("rawQuery = %q", e.RawQuery)
	}
	if got := e.Query["x"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("query x = %q, want [1 2]", got)
	}
	if got := e.Query["y"]; len(got) != 1 || got[0] != "é" {
		t.Errorf("query y = %q, want [é]", got)
	}
	if e.Host != "backend:8081" {
		t.Errorf("host = %q", e.Host)
	}
	if got := e.Headers["X-Team"]; len(got) != 1 || got[0] != "payments" {
		t.Errorf("X-Team = %q", got)
	}
	if got := e.Headers["X-Multi"]; len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("X-Multi = %q, want [one two]", got)
	}
	if e.Body != `{"hello": "world"}` || e.BodyBase64 {
		t.Errorf("body = %q (base64 %v)", e.Body, e.BodyBase64)
	}
}

func TestEchoPathsNearPets(t *testing.T) {
	// Only /pets and /pets/{id} are the pet API; everything else is echoed, never redirected.
	for _, target := range []string{"/", "/pets/1/toys", "/pets/", "/petsx", "/api/pets", "/a/../pets"} {
		t.Run(target, func(t *testing.T) {
			rec := do(t, nil, http.MethodGet, target, "")
			wantStatus(t, rec, http.StatusOK)
			if e := decode[Echo](t, rec); e.URI != target {
				t.Errorf("uri = %q, want %q", e.URI, target)
			}
		})
	}
}

func TestEchoBinaryBody(t *testing.T) {
	body := []byte{0x89, 'P', 'N', 'G', 0xff, 0x00}
	req := httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	newServer().ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusOK)
	e := decode[Echo](t, rec)
	if !e.BodyBase64 || e.Body != base64.StdEncoding.EncodeToString(body) {
		t.Errorf("body = %q (base64 %v), want the base64 of the bytes", e.Body, e.BodyBase64)
	}
}

func TestEchoBodyTooLarge(t *testing.T) {
	rec := do(t, nil, http.MethodPost, "/upload", strings.Repeat("a", maxBody+1))
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	decode[map[string]string](t, rec)
}

func TestHead(t *testing.T) {
	srv := httptest.NewServer(newServer())
	defer srv.Close()
	resp, err := http.Head(srv.URL + "/pets/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD /pets/1: %d with %d body bytes, want 200 and none", resp.StatusCode, len(b))
	}
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan error, 1)
	go func() { done <- run(ctx, lis, log) }()

	url := "http://" + lis.Addr().String()
	resp, err := http.Get(url + "/pets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /pets through run: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancellation, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if _, err := http.Get(url + "/pets"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestRunReturnsServeError(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close() // Serve fails at once on a closed listener
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(t.Context(), lis, log); err == nil {
		t.Fatal("run on a closed listener returned nil")
	}
}
