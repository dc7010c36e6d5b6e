// Package funchost is a local Lambda function host: it runs functions as plain processes (no containers) that
// speak the Lambda Runtime API (2018-06-01), so any runtime that works on Lambda with a custom runtime or a
// provided.al2023 image (aws-lambda-go's lambda.Start, a shell "bootstrap", the runtime interface clients of other
// languages) runs unchanged.
//
// Each instance is one process with its own Runtime API server on a loopback port (AWS_LAMBDA_RUNTIME_API). A
// Host starts instances on first use (a cold start, logged with its duration), reuses warm instances, gives each
// instance one invocation at a time, scales out to Function.MaxConcurrency instances and then queues up to
// Options.QueueLimit invocations per function; beyond that Invoke fails with an error wrapping
// lambdainvoke.ErrThrottled.
//
// Host implements lambdainvoke.Invoker and reports outcomes as the Lambda Invoke API does:
//
//   - a response: Result{Payload: response, ExecutedVersion: "$LATEST"};
//   - an error the runtime posts (…/invocation/{id}/error): Result{FunctionError: "Unhandled", Payload: the error
//     document as posted};
//   - a function timeout: the instance's process group is killed and the instance replaced, and Invoke returns
//     Result{FunctionError: "Unhandled", Payload: {"errorType":"Sandbox.Timedout","errorMessage":"RequestId: …
//     Error: Task timed out after 3.00 seconds"}} with a nil error, the document Lambda returns today. A function
//     timeout is a function error, not an Invoke failure: only the caller's context ending makes Invoke return an
//     error wrapping context.DeadlineExceeded (or context.Canceled), as lambdainvoke.Invoker requires. The
//     invocation then goes on in the background (as on Lambda) until it finishes or times out, holding its
//     concurrency slot;
//   - a crash (the process exits during an invocation): Result{FunctionError: "Unhandled", Payload:
//     {"errorType":"Runtime.ExitError",…}}; an init error (…/runtime/init/error, an exit before the first
//     …/invocation/next, or no …/invocation/next within 10 s): Result{FunctionError: "Unhandled", Payload: the
//     posted error or a Runtime.ExitError/Runtime.InitTimeout document}. Either way the instance is discarded and
//     the next invocation starts a fresh one;
//   - Invoke failures are *lambdainvoke.InvokeError: ErrNotFound for an unknown function, ErrPayloadTooLarge for
//     a request over 6 MB, ErrThrottled when the queue is full, ErrClosed after Close.
//
// Function output (stdout and stderr, line by line) goes to the logger with the function name and the request id
// of the invocation the instance is running (or ran last).
package funchost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/proxyplus/proxyplus/lambdainvoke"
)

const (
	// DefaultTimeout is Lambda's default function timeout.
	DefaultTimeout = 3 * time.Second
	// DefaultMemoryMB is Lambda's default memory size.
	DefaultMemoryMB = 128
	// DefaultQueueLimit is the per-function queue length used when Options.QueueLimit is 0.
	DefaultQueueLimit = 100
	// MaxPayload is Lambda's synchronous invocation limit for requests and responses (6 MB).
	MaxPayload = 6 * 1024 * 1024
	// InitTimeout bounds a cold start: from starting the process to its first …/invocation/next (Lambda's init
	// phase limit).
	InitTimeout = 10 * time.Second
	// LatestVersion is the only version a local function has.
	LatestVersion = "$LATEST"
	// defaultAccount is the account in the ARNs made up for functions without Function.ARN.
	defaultAccount = "000000000000"
)

// ErrClosed is returned (wrapped in a *lambdainvoke.InvokeError) by Invoke after Close.
var ErrClosed = errors.New("funchost: host closed")

// Function is a function the host runs.
type Function struct {
	// Name is the function name (required, unique). Invoke accepts it, "name:qualifier", and ARNs naming it.
	Name string
	// ARN is the ARN the function stands for (optional), reported as Lambda-Runtime-Invoked-Function-Arn when
	// the function is invoked by name. Without it the host makes one up:
	// arn:aws:lambda:{region}:000000000000:function:{name}.
	ARN string
	// Command is the program and its arguments (required), e.g. a Go binary built for lambda.Start or a
	// custom runtime's "./bootstrap". A relative program path is relative to Dir.
	Command []string
	// Env is the function's environment variables. The process also inherits the host's environment (PATH,
	// HOME, credentials); the Lambda variables the host sets (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME,
	// …) override both.
	Env map[string]string
	// Dir is the working directory and LAMBDA_TASK_ROOT; "" is the host's working directory.
	Dir string
	// Timeout is the function timeout; 0 means DefaultTimeout (3 s).
	Timeout time.Duration
	// MemoryMB is reported as AWS_LAMBDA_FUNCTION_MEMORY_SIZE (not enforced); 0 means 128.
	MemoryMB int
	// MaxConcurrency is the most instances (processes) the function runs at once; 0 means GOMAXPROCS.
	MaxConcurrency int
	// Handler is passed as _HANDLER.
	Handler string
}

// Options configures a Host.
type Options struct {
	// Logger receives lifecycle events and function output; nil means slog.Default().
	Logger *slog.Logger
	// Region is AWS_REGION and AWS_DEFAULT_REGION of every function; "" means us-east-1.
	Region string
	// QueueLimit is how many invocations of one function may wait for an instance when all MaxConcurrency
	// instances are busy: 0 means DefaultQueueLimit, a negative value none (throttle at once, as Lambda does).
	QueueLimit int
	// Metrics counts invocations, cold starts and throttles (metrics.go); nil counts nothing.
	Metrics *Metrics
}

// Host runs local functions. It is safe for concurrent use.
type Host struct {
	log     *slog.Logger
	region  string
	queue   int
	pools   map[string]*pool // by name
	byARN   map[string]*pool // by ARN without qualifier
	names   []string
	closing chan struct{}
	once    sync.Once
	rtl     runtimeLimits // the Runtime API server's time limits
	metrics *Metrics

	testHookQueued func(function string) // called when an invocation starts waiting for a slot
}

// New validates fns and returns a Host serving them. It starts no process: instances start on first use.
func New(fns []Function, opts Options) (*Host, error) {
	h := &Host{
		log:     opts.Logger,
		region:  opts.Region,
		queue:   opts.QueueLimit,
		pools:   make(map[string]*pool, len(fns)),
		byARN:   make(map[string]*pool, len(fns)),
		closing: make(chan struct{}),
		rtl:     defaultRuntimeLimits,
		metrics: opts.Metrics,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.region == "" {
		h.region = "us-east-1"
	}
	switch {
	case h.queue == 0:
		h.queue = DefaultQueueLimit
	case h.queue < 0:
		h.queue = 0
	}
	for i, fn := range fns {
		if fn.Name == "" || strings.Contains(fn.Name, ":") {
			return nil, fmt.Errorf("funchost: function %d: invalid name %q", i, fn.Name)
		}
		if _, dup := h.pools[fn.Name]; dup {
			return nil, fmt.Errorf("funchost: function %q defined twice", fn.Name)
		}
		if len(fn.Command) == 0 || fn.Command[0] == "" {
			return nil, fmt.Errorf("funchost: function %q: no command", fn.Name)
		}
		if fn.Timeout < 0 || fn.MemoryMB < 0 || fn.MaxConcurrency < 0 {
			return nil, fmt.Errorf("funchost: function %q: negative timeout, memory or concurrency", fn.Name)
		}
		if fn.Timeout == 0 {
			fn.Timeout = DefaultTimeout
		}
		if fn.MemoryMB == 0 {
			fn.MemoryMB = DefaultMemoryMB
		}
		if fn.MaxConcurrency == 0 {
			fn.MaxConcurrency = runtime.GOMAXPROCS(0)
		}
		arn := fn.ARN
		if arn == "" {
			arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", h.region, defaultAccount, fn.Name)
		} else {
			pf := lambdainvoke.ParseFunction(arn)
			if pf.ARN != "full" || pf.Name != fn.Name || pf.Qualifier != "" {
				return nil, fmt.Errorf("funchost: function %q: ARN %q is not an unqualified function ARN for it", fn.Name, arn)
			}
		}
		dir := fn.Dir
		if dir == "" {
			dir = "."
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("funchost: function %q: %w", fn.Name, err)
		}
		fn.Dir = abs
		p := &pool{h: h, fn: fn, arn: arn, slots: make(chan struct{}, fn.MaxConcurrency), all: map[*instance]struct{}{}}
		h.pools[fn.Name] = p
		h.byARN[arn] = p
		h.names = append(h.names, fn.Name)
	}
	sort.Strings(h.names)
	return h, nil
}

// Names returns the names of the host's functions, sorted (for lambdainvoke.NewRouting).
func (h *Host) Names() []string { return append([]string(nil), h.names...) }

// lookup finds the function an Invoke names and the ARN the runtime sees as invoked.
func (h *Host) lookup(function string) (*pool, string, error) {
	pf := lambdainvoke.ParseFunction(function)
	p := h.pools[pf.Name]
	if p == nil {
		return nil, "", fmt.Errorf("function not found: %s", function)
	}
	if p.fn.ARN == "" && pf.ARN != "" {
		// A function configured by name alone stands in for that name in any account and region: an
		// integration written for AWS runs locally unchanged (issue 4 scope 1).
		return p, function, nil
	}
	if pf.ARN == "full" {
		unq := strings.TrimSuffix(function, ":"+pf.Qualifier)
		if pf.Qualifier == "" {
			unq = function
		}
		if unq != p.arn {
			return nil, "", fmt.Errorf("function not found: %s (local function %s is %s)", function, p.fn.Name, p.arn)
		}
		return p, function, nil
	}
	if pf.ARN == "partial" && !strings.Contains(p.arn, ":"+pf.Account+":function:") {
		return nil, "", fmt.Errorf("function not found: %s (local function %s is %s)", function, p.fn.Name, p.arn)
	}
	if pf.Qualifier != "" {
		return p, p.arn + ":" + pf.Qualifier, nil
	}
	return p, p.arn, nil
}

// Invoke invokes function synchronously (see the package documentation for outcomes). function is the name, the
// ARN (full or partial) or either with a :qualifier; every qualifier runs $LATEST.
func (h *Host) Invoke(ctx context.Context, function string, payload []byte) (*lambdainvoke.Result, error) {
	return h.invoke(ctx, function, payload, "", nil)
}

// invoke is Invoke with the request id to use ("" makes one up) and, when tail is not nil, capturing the
// invocation's output lines in tail.
func (h *Host) invoke(ctx context.Context, function string, payload []byte, requestID string, tail *tailLog) (*lambdainvoke.Result, error) {
	p, invokedARN, err := h.lookup(function)
	if err != nil {
		return nil, &lambdainvoke.InvokeError{Function: function, Code: "ResourceNotFoundException",
			Message: err.Error(), StatusCode: 404, Class: lambdainvoke.ErrNotFound, Err: err}
	}
	if len(payload) > MaxPayload {
		msg := fmt.Sprintf("%d byte payload is too large for the RequestResponse invocation type (limit %d bytes)", len(payload), MaxPayload)
		return nil, &lambdainvoke.InvokeError{Function: function, Code: "RequestEntityTooLargeException",
			Message: msg, StatusCode: 413, Class: lambdainvoke.ErrPayloadTooLarge, Err: errors.New(msg)}
	}
	h.metrics.invoked(p.fn.Name)
	if err := p.acquire(ctx); err != nil {
		if errors.Is(err, lambdainvoke.ErrThrottled) {
			h.metrics.throttled(p.fn.Name)
		}
		return nil, invokeError(function, err)
	}
	// The caller's trace continues into the runtime (Lambda-Runtime-Trace-Id, from which runtimes set
	// _X_AMZN_TRACE_ID): the processor's through the context, the Invoke API's from X-Amzn-Trace-Id.
	inv := newInvocation(payload, invokedARN, lambdainvoke.TraceHeader(ctx))
	inv.tail = tail
	if requestID != "" {
		inv.id = requestID
	}
	// The invocation runs in the caller's goroutine; when ctx ends first it goes on in one of its own (holding
	// its concurrency slot) until it finishes or times out, as on Lambda.
	res, err, detached := p.run(inv, ctx.Done())
	if detached {
		go func() {
			defer p.release()
			_, _, _ = p.run(inv, nil)
		}()
		return nil, invokeError(function, fmt.Errorf("request %s: %w", inv.id, context.Cause(ctx)))
	}
	p.release()
	if err != nil {
		return nil, invokeError(function, err)
	}
	return res, nil
}

func invokeError(function string, err error) error {
	ie := &lambdainvoke.InvokeError{Function: function, Err: err}
	if errors.Is(err, lambdainvoke.ErrThrottled) {
		ie.Class, ie.Code, ie.StatusCode, ie.Message = lambdainvoke.ErrThrottled, "TooManyRequestsException", 429, "Rate Exceeded."
	}
	return ie
}

// Close stops every instance: SIGTERM to each process group, then SIGKILL to what is left when ctx ends. Invoke
// fails with ErrClosed from then on and invocations in flight fail too. Close returns ctx's error when it had to
// kill, and waits for the processes to exit either way.
func (h *Host) Close(ctx context.Context) error {
	h.once.Do(func() { close(h.closing) })
	var insts []*instance
	for _, p := range h.pools {
		p.mu.Lock()
		for in := range p.all {
			insts = append(insts, in)
		}
		p.mu.Unlock()
	}
	for _, in := range insts {
		in.terminate()
	}
	var forced error
	for _, in := range insts {
		select {
		case <-in.exited:
		case <-ctx.Done():
			forced = ctx.Err()
			in.kill()
			<-in.exited
		}
	}
	return forced
}

func (h *Host) closed() bool {
	select {
	case <-h.closing:
		return true
	default:
		return false
	}
}
