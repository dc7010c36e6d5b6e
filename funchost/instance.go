package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const runtimePrefix = "/2018-06-01/runtime"

// instance is one process of a function with its Runtime API server.
type instance struct {
	p           *pool
	id          int
	cmd         *exec.Cmd
	ln          net.Listener // the Runtime API's
	started     time.Time
	invocations atomic.Int64 // invocations handed over

	exited  chan struct{} // closed when the process has exited
	exitErr error         // set before exited closes

	initFailed chan struct{} // closed when the runtime posted …/init/error
	initErr    []byte        // set before initFailed closes
	initOnce   sync.Once
	readyOnce  sync.Once

	mu              sync.Mutex
	conns           map[net.Conn]struct{} // the Runtime API's open connections
	apiClosed       bool                  // the Runtime API is shut down
	connLimitLogged bool                  // the connection limit was reached and logged
	waiters         []*rconn              // connections whose …/invocation/next waits for an invocation, oldest first
	pending         *invocation           // an invocation waiting for the runtime's …/invocation/next
	current         *invocation           // the invocation the runtime is working on
	lastID          string                // request id for output lines
	lastInv         *invocation           // the invocation output lines belong to (current or last)
	stopOnce        sync.Once
	termOnce        sync.Once
	logStdout       *lineWriter
	logStderr       *lineWriter
}

func startInstance(p *pool, seq int) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	in := &instance{p: p, id: seq, ln: ln, conns: map[net.Conn]struct{}{}, exited: make(chan struct{}),
		initFailed: make(chan struct{})}

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
	go in.serveRuntimeAPI(ln)
	go func() {
		err := cmd.Wait()
		in.exitErr = err
		if err == nil {
			in.exitErr = errors.New("exit status 0")
		}
		in.logStdout.flush()
		in.logStderr.flush()
		close(in.exited)
		in.closeRuntimeAPI()
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

// handLocked makes inv the invocation the runtime works on. Called with mu held.
func (in *instance) handLocked(inv *invocation) {
	inv.handed = true
	inv.deadline = time.Now().Add(in.p.fn.Timeout)
	in.current, in.lastID, in.lastInv = inv, inv.id, inv
	in.invocations.Add(1)
}

// offer gives inv to the runtime: written at once on a waiting …/invocation/next, else left pending for the next
// one.
func (in *instance) offer(inv *invocation) {
	for {
		in.mu.Lock()
		if len(in.waiters) == 0 || in.apiClosed {
			in.pending = inv
			in.mu.Unlock()
			return
		}
		rc := in.waiters[0]
		in.waiters = slices.Delete(in.waiters, 0, 1)
		in.handLocked(inv)
		in.mu.Unlock()
		if rc.sendInvocation(inv) == nil {
			return
		}
		_ = rc.c.Close()
		in.mu.Lock()
		if in.current == inv {
			in.current, inv.handed = nil, false
		}
		in.mu.Unlock()
	}
}

// requeue makes inv pending again after writing it to the runtime failed.
func (in *instance) requeue(inv *invocation) {
	in.mu.Lock()
	if in.current == inv {
		in.current, inv.handed = nil, false
	}
	in.mu.Unlock()
	in.offer(inv)
}

// withdraw takes inv back if the runtime has not got it; it reports whether the runtime has.
func (in *instance) withdraw(inv *invocation) (handed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pending == inv {
		in.pending = nil
	}
	return inv.handed
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
