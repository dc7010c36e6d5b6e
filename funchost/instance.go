package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

const runtimePrefix = "/2018-06-01/runtime"

// instance is one process of a function with its Runtime API server.
type instance struct {
	p           *pool
	id          int
	cmd         *exec.Cmd
	srv         *http.Server
	started     time.Time
	next        chan *invocation // the invocation handed to the runtime's …/invocation/next
	invocations atomic.Int64     // invocations handed over

	exited  chan struct{} // closed when the process has exited
	exitErr error         // set before exited closes

	initFailed chan struct{} // closed when the runtime posted …/init/error
	initErr    []byte        // set before initFailed closes
	initOnce   sync.Once
	readyOnce  sync.Once

	mu        sync.Mutex
	current   *invocation // the invocation the runtime is working on
	lastID    string      // request id for output lines
	lastInv   *invocation // the invocation output lines belong to (current or last)
	stopOnce  sync.Once
	termOnce  sync.Once
	logStdout *lineWriter
	logStderr *lineWriter
}

func startInstance(p *pool, seq int) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	in := &instance{p: p, id: seq, next: make(chan *invocation), exited: make(chan struct{}), initFailed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimePrefix+"/invocation/next", in.handleNext)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/response", in.handleResponse)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/error", in.handleError)
	mux.HandleFunc("POST "+runtimePrefix+"/init/error", in.handleInitError)
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	fn := p.fn
	cmd := exec.Command(fn.Command[0], fn.Command[1:]...)
	cmd.Dir = fn.Dir
	cmd.Env = in.environ(ln.Addr().String())
	in.logStdout = &lineWriter{in: in, stream: "stdout"}
	in.logStderr = &lineWriter{in: in, stream: "stderr"}
	cmd.Stdout, cmd.Stderr = in.logStdout, in.logStderr
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	in.cmd = cmd
	in.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("start %q: %w", fn.Command[0], err)
	}
	go func() { _ = in.srv.Serve(ln) }()
	go func() {
		err := cmd.Wait()
		in.exitErr = err
		if err == nil {
			in.exitErr = errors.New("exit status 0")
		}
		in.logStdout.flush()
		in.logStderr.flush()
		close(in.exited)
		_ = in.srv.Close()
		p.h.log.Debug("function instance exited", "function", fn.Name, "instance", in.id, "pid", cmd.Process.Pid, "status", err)
	}()
	p.h.log.Debug("function instance started", "function", fn.Name, "instance", in.id, "pid", cmd.Process.Pid)
	return in, nil
}

func (in *instance) environ(runtimeAPI string) []string {
	fn, h := in.p.fn, in.p.h
	env := os.Environ()
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	now := time.Now().UTC()
	lambdaEnv := [][2]string{
		{"AWS_LAMBDA_RUNTIME_API", runtimeAPI},
		{"AWS_LAMBDA_FUNCTION_NAME", fn.Name},
		{"AWS_LAMBDA_FUNCTION_VERSION", LatestVersion},
		{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", strconv.Itoa(fn.MemoryMB)},
		{"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
		{"AWS_REGION", h.region},
		{"AWS_DEFAULT_REGION", h.region},
		{"AWS_EXECUTION_ENV", "proxyplus-funchost"},
		{"_HANDLER", fn.Handler},
		{"LAMBDA_TASK_ROOT", fn.Dir},
		{"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + fn.Name},
		{"AWS_LAMBDA_LOG_STREAM_NAME", fmt.Sprintf("%s/[%s]%s", now.Format("2006/01/02"), LatestVersion, randomHex(16))},
		{"TZ", ":UTC"},
	}
	for _, kv := range lambdaEnv {
		env = append(env, kv[0]+"="+kv[1]) // later entries win in exec.Cmd.Env
	}
	return env
}

// kill kills the process group at once.
func (in *instance) kill() {
	in.stopOnce.Do(func() {
		killProcessGroup(in.cmd.Process)
	})
}

// terminate asks the process group to stop (SIGTERM).
func (in *instance) terminate() {
	in.termOnce.Do(func() { terminateProcessGroup(in.cmd.Process) })
}

func (in *instance) handleNext(w http.ResponseWriter, r *http.Request) {
	in.readyOnce.Do(func() {
		in.p.h.log.Info("function cold start", "function", in.p.fn.Name, "instance", in.id,
			"pid", in.cmd.Process.Pid, "init_duration", time.Since(in.started))
	})
	var inv *invocation
	select {
	case inv = <-in.next:
	case <-r.Context().Done():
		return
	case <-in.exited:
		return
	}
	inv.deadline = time.Now().Add(in.p.fn.Timeout)
	in.mu.Lock()
	in.current, in.lastID, in.lastInv = inv, inv.id, inv
	in.mu.Unlock()
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	hd.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	hd.Set("Lambda-Runtime-Invoked-Function-Arn", inv.invokedARN)
	hd.Set("Lambda-Runtime-Trace-Id", inv.traceID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// take returns the current invocation if id names it, and makes it no longer current.
func (in *instance) take(id string) *invocation {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.current == nil || in.current.id != id {
		return nil
	}
	inv := in.current
	in.current = nil
	return inv
}

// readBody reads at most MaxPayload bytes; ok is false when the body is larger.
func readBody(r *http.Request) (body []byte, ok bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	return body, len(body) <= MaxPayload, err
}

func runtimeError(w http.ResponseWriter, status int, errorType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": errorType, "errorMessage": msg})
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`+"\n")
}

func (in *instance) handleResponse(w http.ResponseWriter, r *http.Request) {
	in.answer(w, r, false)
}

func (in *instance) handleError(w http.ResponseWriter, r *http.Request) {
	in.answer(w, r, true)
}

func (in *instance) answer(w http.ResponseWriter, r *http.Request, isError bool) {
	inv := in.take(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	body, ok, err := readBody(r)
	switch {
	case err != nil:
		inv.result <- unhandled("Runtime.InvalidResponse", fmt.Sprintf("RequestId: %s Error: reading the response: %v", inv.id, err))
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
	case !ok:
		inv.result <- unhandled("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayload))
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxPayload))
	case isError:
		inv.result <- &lambdainvoke.Result{Payload: errorDocument(body, r.Header.Get("Lambda-Runtime-Function-Error-Type")),
			FunctionError: "Unhandled", ExecutedVersion: LatestVersion}
		accepted(w)
	default:
		inv.result <- &lambdainvoke.Result{Payload: body, ExecutedVersion: LatestVersion}
		accepted(w)
	}
}

// errorDocument returns what a runtime posted as an error: the body when it is a JSON object, else a document
// made of the error type header and the body.
func errorDocument(body []byte, errorType string) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		return body
	}
	if errorType == "" {
		errorType = "Runtime.Unknown"
	}
	b, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": string(bytes.TrimSpace(body))})
	return b
}

func (in *instance) handleInitError(w http.ResponseWriter, r *http.Request) {
	if in.invocations.Load() > 0 {
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "init error after initialization")
		return
	}
	body, _, _ := readBody(r)
	in.initOnce.Do(func() {
		in.initErr = errorDocument(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
		in.p.h.log.Warn("function init error", "function", in.p.fn.Name, "instance", in.id, "error", string(in.initErr))
		close(in.initFailed)
	})
	accepted(w)
}

// lineWriter forwards a process's output to the logger line by line.
type lineWriter struct {
	in     *instance
	stream string
	mu     sync.Mutex
	buf    []byte
}

const maxLine = 64 * 1024

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, b...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			if len(lw.buf) >= maxLine {
				lw.emit(lw.buf)
				lw.buf = lw.buf[:0]
			}
			return len(b), nil
		}
		lw.emit(lw.buf[:i])
		lw.buf = lw.buf[i+1:]
	}
}

func (lw *lineWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) > 0 {
		lw.emit(lw.buf)
		lw.buf = nil
	}
}

func (lw *lineWriter) emit(line []byte) {
	lw.in.mu.Lock()
	id, inv := lw.in.lastID, lw.in.lastInv
	lw.in.mu.Unlock()
	if inv != nil && inv.tail != nil {
		inv.tail.add(bytes.TrimRight(line, "\r"))
	}
	lw.in.p.h.log.LogAttrs(context.Background(), slog.LevelInfo, "function output",
		slog.String("function", lw.in.p.fn.Name), slog.String("request_id", id),
		slog.String("stream", lw.stream), slog.String("line", string(bytes.TrimRight(line, "\r"))))
}
