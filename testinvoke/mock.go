package testinvoke

import (
	"context"
	"log/slog"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// invokeMock answers a MOCK route the processor serves (its answer reads the request): over the wire when
// inv.Processor is set, else with the service's own code in-process; either way Envoy turns the immediate
// response into the client's answer as a local reply (evaluator.ImmediateResponse).
func (inv *Invoker) invokeMock(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, pr *ir.ProcessorRoute, out *Result) (*Result, error) {
	if inv.Processor != nil {
		res, err := inv.invokeLambdaWire(ctx, sel, req, out, nil) // a MOCK answer reads no claims or API key
		if err != nil {
			return nil, err
		}
		res.Integration = &Integration{Type: string(ir.Mock)}
		return res, nil
	}
	view, err := inv.eval.ProcessorView(sel, req)
	if err != nil {
		return nil, err
	}
	resp := extproc.ServeMock(ctx, slog.Default(), pr, extproc.NewRequestHeaders(view.Headers), view.Body)
	r, err := inv.eval.ImmediateResponse(sel, req, extproc.ImmediateResponse(resp))
	if err != nil {
		return nil, err
	}
	out.Integration = &Integration{Type: string(ir.Mock)}
	out.Response = fromEvaluatorResponse(r)
	return out, nil
}
