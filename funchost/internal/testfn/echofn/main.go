//go:build funchost_testfn

// Command echofn is the aws-lambda-go test function of package funchost (built by its tests with
// -tags funchost_testfn). The event's "action" chooses what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	URL    string `json:"url"`
	Value  any    `json:"value"`
}

type response struct {
	PID        int    `json:"pid"`
	Value      any    `json:"value"`
	RequestID  string `json:"requestId"`
	ARN        string `json:"arn"`
	Function   string `json:"function"`
	Memory     string `json:"memory"`
	Region     string `json:"region"`
	Handler    string `json:"handler"`
	TZ         string `json:"tz"`
	DeadlineMs int64  `json:"deadlineMs"`
	Body       string `json:"body,omitempty"`
	// Trace is _X_AMZN_TRACE_ID, which aws-lambda-go sets from Lambda-Runtime-Trace-Id for each invocation.
	Trace string `json:"trace"`
}

func handle(ctx context.Context, ev event) (*response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	res := &response{PID: os.Getpid(), Value: ev.Value, Function: lambdacontext.FunctionName,
		Memory: os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Region: os.Getenv("AWS_REGION"),
		Handler: os.Getenv("_HANDLER"), TZ: os.Getenv("TZ"), DeadlineMs: dl.UnixMilli(), Trace: os.Getenv("_X_AMZN_TRACE_ID")}
	if lc != nil {
		res.RequestID, res.ARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	if ev.Action == "noop" { // the benchmarks' no-op function: no output either
		return res, nil
	}
	fmt.Printf("handling %s\n", ev.Action)
	switch ev.Action {
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("kaboom")
	case "exit":
		os.Exit(3)
	case "big": // over the 6 MB response limit
		res.Body = strings.Repeat("x", 7<<20)
	case "sleep":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
	case "get": // blocks until the test's server answers
		resp, err := http.Get(ev.URL)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res.Body = string(b)
	}
	return res, nil
}

func main() {
	// FUNCHOST_TESTFN_CPUPROFILE: write a CPU profile of the function to that file, stopped by SIGTERM (what
	// Host.Close sends), for profiling the function side of the benchmarks.
	if path := os.Getenv("FUNCHOST_TESTFN_CPUPROFILE"); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM)
			go func() {
				<-sig
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(0)
			}()
		}
	}
	lambda.Start(handle)
}
