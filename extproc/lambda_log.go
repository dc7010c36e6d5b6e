package extproc

import (
	"context"
	"errors"
	"log/slog"

	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// logInvokeError logs a failed invocation, once, where the processor learns of it: the function, the request id
// the client got (x-amzn-RequestId), the error class (lambdainvoke.ErrorClass), the cause (key "error"), the
// Invoke API's status and request id when it answered, and the status and details the client gets. A request
// the caller gave up on (Envoy reset the stream: the client went away) is logged at Warn, every other failure
// at Error: each 5xx of an invocation is explained by this line.
func (l *Lambda) logInvokeError(ctx context.Context, function, requestID string, err error, resp *lambdaproxy.Response) {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	class := lambdainvoke.ErrorClass(err)
	level := slog.LevelError
	if class == "canceled" || (ctx.Err() != nil && class != "timeout") {
		class, level = "canceled", slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("function", function), slog.String("request_id", requestID),
		slog.String("error_class", class), slog.Any("error", err)}
	var ie *lambdainvoke.InvokeError
	if errors.As(err, &ie) && ie.StatusCode != 0 {
		attrs = append(attrs, slog.Int("invoke_status", ie.StatusCode), slog.String("invoke_request_id", ie.RequestID))
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("details", resp.Details))
	}
	log.LogAttrs(ctx, level, "lambda invoke failed", attrs...)
}
