package funchost

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxyplus/proxyplus/internal/ids"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// pool is one function's instances and concurrency slots.
type pool struct {
	h      *Host
	fn     Function
	arn    string
	slots  chan struct{} // one token per running invocation, capacity MaxConcurrency
	queued atomic.Int64  // invocations waiting for a slot

	mu   sync.Mutex
	idle []*instance // warm instances waiting for an invocation, most recently used last
	all  map[*instance]struct{}
	seq  int
}

// acquire takes a concurrency slot, waiting in the queue when the function is at MaxConcurrency.
func (p *pool) acquire(ctx context.Context) error {
	if p.h.closed() {
		return ErrClosed
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	if n := p.queued.Add(1); n > int64(p.h.queue) {
		p.queued.Add(-1)
		return fmt.Errorf("function %s: %w: %d instances busy and %d invocations queued", p.fn.Name,
			lambdainvoke.ErrThrottled, p.fn.MaxConcurrency, p.h.queue)
	}
	defer p.queued.Add(-1)
	if p.h.testHookQueued != nil {
		p.h.testHookQueued(p.fn.Name)
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for an instance of %s: %w", p.fn.Name, context.Cause(ctx))
	case <-p.h.closing:
		return ErrClosed
	}
}

func (p *pool) release() { <-p.slots }

// instance returns a warm instance, or starts one (cold start).
func (p *pool) instance() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		in := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		select {
		case <-in.exited: // died while idle
			delete(p.all, in)
			continue
		default:
			return in, nil
		}
	}
	if p.h.closed() {
		return nil, ErrClosed
	}
	p.seq++
	p.h.metrics.coldStart(p.fn.Name)
	in, err := startInstance(p, p.seq)
	if err != nil {
		return nil, err
	}
	p.all[in] = struct{}{}
	return in, nil
}

func (p *pool) putIdle(in *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.h.closed() {
		return
	}
	p.idle = append(p.idle, in)
}

// discard kills an instance and forgets it.
func (p *pool) discard(in *instance) {
	in.kill()
	p.mu.Lock()
	delete(p.all, in)
	p.mu.Unlock()
}

// invocation is one Invoke on its way through an instance.
type invocation struct {
	id         string
	payload    []byte
	invokedARN string
	traceID    string
	result     chan *lambdainvoke.Result
	tail       *tailLog // output lines for X-Amz-Log-Type: Tail; nil when not asked for

	// Under the instance's mu:
	handed   bool      // the runtime has the invocation (answered its …/invocation/next)
	deadline time.Time // set when handed

	// The state of run, so that it can go on in another goroutine:
	in      *instance // the instance it was offered to
	warm    bool      // the instance had run invocations before
	initEnd time.Time // when waiting for the runtime's …/invocation/next becomes an init timeout
	timer   *time.Timer
}

// newInvocation is an invocation continuing trace (the X-Ray header the caller sent; "" starts a new trace).
func newInvocation(payload []byte, invokedARN, trace string) *invocation {
	if trace == "" {
		trace = ids.NewTraceHeader(time.Now())
	}
	return &invocation{id: ids.NewUUID(), payload: payload, invokedARN: invokedARN, traceID: trace,
		result: make(chan *lambdainvoke.Result, 1)}
}

// run runs inv on an instance. It returns a function error as a Result, and an error only when the host closes or
// cannot run the function at all. When ctxDone ends first, run returns detached: the invocation goes on and must
// be finished by calling run again (with a nil ctxDone), in another goroutine.
func (p *pool) run(inv *invocation, ctxDone <-chan struct{}) (res *lambdainvoke.Result, err error, detached bool) {
	var initFailed <-chan struct{}
	if inv.in != nil {
		initFailed = inv.in.initFailed
	}
	for {
		in := inv.in
		if in == nil {
			in, err = p.instance()
			if err != nil {
				if err == ErrClosed {
					return nil, err, false
				}
				p.h.log.Error("function failed to start", "function", p.fn.Name, "request_id", inv.id, "error", err)
				return unhandled("Runtime.InvalidEntrypoint", fmt.Sprintf("RequestId: %s Error: %v", inv.id, err)), nil, false
			}
			inv.in, inv.warm = in, in.invocations.Load() > 0
			now := time.Now()
			inv.initEnd = now.Add(InitTimeout)
			// One timer for both limits: it fires at the earlier one and is re-armed for what is left.
			if inv.timer == nil {
				inv.timer = time.NewTimer(min(InitTimeout, p.fn.Timeout))
			} else {
				inv.timer.Reset(min(InitTimeout, p.fn.Timeout))
			}
			initFailed = in.initFailed
			in.offer(inv)
		}
		select {
		case res := <-inv.result:
			inv.timer.Stop()
			p.putIdle(in)
			return res, nil, false
		case <-initFailed:
			if in.withdraw(inv) {
				initFailed = nil // the runtime got the invocation: an init error is too late
				continue
			}
			inv.timer.Stop()
			p.discard(in)
			return &lambdainvoke.Result{Payload: in.initErr, FunctionError: "Unhandled", ExecutedVersion: LatestVersion}, nil, false
		case <-in.exited:
			if in.withdraw(inv) {
				inv.timer.Stop()
				select {
				case res := <-inv.result: // answered, then exited (e.g. a panic after reporting it)
					p.discard(in)
					return res, nil, false
				default:
				}
				p.discard(in)
				p.h.log.Warn("function exited during invocation", "function", p.fn.Name, "request_id", inv.id, "error", in.exitErr)
				return unhandled("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.id, in.exitErr)), nil, false
			}
			p.discard(in)
			if inv.warm {
				inv.in = nil // died between invocations: take another instance
				continue
			}
			inv.timer.Stop()
			return unhandled("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason: %v", inv.id, in.exitErr)), nil, false
		case <-inv.timer.C:
			handed := in.withdraw(inv)
			now := time.Now()
			if handed {
				in.mu.Lock()
				dl := inv.deadline
				in.mu.Unlock()
				if now.Before(dl) {
					inv.timer.Reset(dl.Sub(now))
					continue
				}
				p.discard(in)
				<-in.exited
				p.h.log.Warn("function timed out", "function", p.fn.Name, "request_id", inv.id, "timeout", p.fn.Timeout)
				return unhandled("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, p.fn.Timeout.Seconds())), nil, false
			}
			if now.Before(inv.initEnd) {
				in.offer(inv) // withdrawn above: offer it again
				inv.timer.Reset(min(inv.initEnd.Sub(now), p.fn.Timeout))
				continue
			}
			p.h.log.Warn("function init timed out", "function", p.fn.Name, "instance", in.id, "timeout", InitTimeout)
			p.discard(in)
			return unhandled("Runtime.InitTimeout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds (init)", inv.id, InitTimeout.Seconds())), nil, false
		case <-p.h.closing:
			in.withdraw(inv)
			inv.timer.Stop()
			return nil, ErrClosed, false
		case <-ctxDone:
			return nil, nil, true
		}
	}
}

// unhandled is a function error document as Lambda makes it for failures of the runtime or the sandbox.
func unhandled(errorType, message string) *lambdainvoke.Result {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{errorType, message})
	return &lambdainvoke.Result{Payload: b, FunctionError: "Unhandled", ExecutedVersion: LatestVersion}
}

func randomHex(n int) string {
	b := make([]byte, n)
	ids.Read(b)
	return hex.EncodeToString(b)
}
