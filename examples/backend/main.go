// Command backend is a tiny HTTP backend for the petstore example (examples/petstore/api.yaml).
//
//	go run ./examples/backend --listen 127.0.0.1:8081
//
// It keeps an in-memory pet list:
//
//	GET  /pets       the pets, as a JSON list
//	POST /pets       adds a pet from a JSON body {"type": "dog", "price": 12.5}; 201 with the pet and a Location
//	GET  /pets/{id}  one pet; 404 with a JSON message when there is none
//
// Any other path echoes the request back as JSON (method, raw target, path, query, headers, body), which shows
// what the gateway's integration request looked like once API Gateway's mappings were applied. Paths are taken
// exactly as they arrive: no cleaning, no redirects, so doubled slashes and encoded characters stay visible.
//
// It uses the standard library only and shuts down gracefully on SIGINT and SIGTERM.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxBody matches API Gateway's 10 MB payload limit; larger bodies are refused with 413.
const maxBody = 10 << 20

// shutdownTimeout bounds how long in-flight requests may take to finish after a signal.
const shutdownTimeout = 10 * time.Second

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on, host:port")
	logFormat := flag.String("log-format", "text", "log format: text or json")
	flag.Parse()

	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(h)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "address", *listen, "error", err)
		os.Exit(1)
	}
	if err := run(ctx, lis, log); err != nil {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}

// run serves on lis until ctx is done, then lets in-flight requests finish (up to shutdownTimeout).
func run(ctx context.Context, lis net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           logRequests(log, newServer()),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("petstore backend listening", "address", lis.Addr().String())

	select {
	case err := <-errc:
		return err // Serve failed before any shutdown was asked for
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Pet is one pet, shaped like the pets of API Gateway's PetStore sample.
type Pet struct {
	ID    int     `json:"id"`
	Type  string  `json:"type"`
	Price float64 `json:"price"`
}

// server holds the pet list; it is safe for concurrent use.
type server struct {
	mu     sync.Mutex
	pets   []Pet
	nextID int
}

func newServer() *server {
	return &server{
		pets: []Pet{
			{ID: 1, Type: "dog", Price: 249.99},
			{ID: 2, Type: "cat", Price: 124.99},
			{ID: 3, Type: "fish", Price: 0.99},
		},
		nextID: 4,
	}
}

// ServeHTTP dispatches by hand rather than with http.ServeMux, which would clean paths and redirect: the echo
// must show the path exactly as the gateway sent it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/pets":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.listPets(w, r)
		case http.MethodPost:
			s.createPet(w, r)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
	case strings.HasPrefix(p, "/pets/") && len(p) > len("/pets/") && !strings.Contains(p[len("/pets/"):], "/"):
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.getPet(w, r, p[len("/pets/"):])
		default:
			methodNotAllowed(w, "GET, HEAD")
		}
	default:
		echo(w, r)
	}
}

func (s *server) listPets(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	pets := slices.Clone(s.pets)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, pets)
}

func (s *server) createPet(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Type  string   `json:"type"`
		Price *float64 `json:"price"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBody)
			return
		}
		writeMessage(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return
	}
	if dec.More() {
		writeMessage(w, http.StatusBadRequest, "invalid JSON body: more than one JSON value")
		return
	}
	in.Type = strings.TrimSpace(in.Type)
	if in.Type == "" {
		writeMessage(w, http.StatusBadRequest, `"type" is required`)
		return
	}
	if in.Price != nil && *in.Price < 0 {
		writeMessage(w, http.StatusBadRequest, `"price" must not be negative`)
		return
	}
	pet := Pet{Type: in.Type}
	if in.Price != nil {
		pet.Price = *in.Price
	}
	s.mu.Lock()
	pet.ID = s.nextID
	s.nextID++
	s.pets = append(s.pets, pet)
	s.mu.Unlock()
	w.Header().Set("Location", "/pets/"+strconv.Itoa(pet.ID))
	writeJSON(w, http.StatusCreated, pet)
}

func (s *server) getPet(w http.ResponseWriter, _ *http.Request, rawID string) {
	id, err := strconv.Atoi(rawID)
	if err == nil {
		s.mu.Lock()
		i := slices.IndexFunc(s.pets, func(p Pet) bool { return p.ID == id })
		var pet Pet
		if i >= 0 {
			pet = s.pets[i]
		}
		s.mu.Unlock()
		if i >= 0 {
			writeJSON(w, http.StatusOK, pet)
			return
		}
	}
	writeMessage(w, http.StatusNotFound, "pet %q not found", rawID)
}

// Echo is what the backend answers on paths it does not serve: the request as it arrived.
type Echo struct {
	Method string `json:"method"`
	// URI is the raw request target (path and query as sent, still percent-encoded).
	URI        string              `json:"uri"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"rawQuery"`
	Query      map[string][]string `json:"query"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
	Body       string              `json:"body"`
	BodyBase64 bool                `json:"bodyBase64,omitempty"` // set when the body is not UTF-8 text
	RemoteAddr string              `json:"remoteAddr"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBody)
			return
		}
		writeMessage(w, http.StatusBadRequest, "reading the body: %v", err)
		return
	}
	e := Echo{
		Method:     r.Method,
		URI:        r.RequestURI,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Query:      map[string][]string(r.URL.Query()),
		Host:       r.Host,
		Headers:    map[string][]string(r.Header.Clone()),
		RemoteAddr: r.RemoteAddr,
	}
	if utf8.Valid(body) {
		e.Body = string(body)
	} else {
		e.Body = base64.StdEncoding.EncodeToString(body)
		e.BodyBase64 = true
	}
	writeJSON(w, http.StatusOK, e)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeMessage(w, http.StatusMethodNotAllowed, "method not allowed; allowed: %s", allow)
}

// writeMessage answers with API Gateway's error body shape, {"message": "..."}.
func writeMessage(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.Info("request", "method", r.Method, "uri", r.RequestURI, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}
