package testinvoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/xds/builder"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

// wireChunk is the size of the body pieces the wire path sends: what one read of Envoy's HTTP/1 codec typically
// hands the filters (the evaluator's ExtProcExchange splits the body with it).
const wireChunk = 16 << 10

// processOverWire plays, against inv.Processor, exactly the ext_proc message sequence Envoy plays on the selected
// route (evaluator.ExtProcExchange): every message in order, waiting only where Envoy waits. A processor answer
// where Envoy waits for none is taken as Envoy takes it: an immediate response ends the exchange (Envoy stops
// sending, ext_proc.cc Filter::onReceiveMessage sets processing_complete_), anything else is a protocol error here
// (in FULL_DUPLEX_STREAMED a headers answer would release the request to the router). It returns the immediate
// response, if any, or the last answer.
func (inv *Invoker) processOverWire(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, meta map[string]*structpb.Struct) (*extprocv3.ProcessingResponse, error) {
	msgs, err := inv.eval.ExtProcExchangeWithMetadata(sel, req, wireChunk, meta)
	if err != nil {
		return nil, err
	}
	for _, kv := range sel.ExtProc.GRPCInitialMetadata {
		ctx = metadata.AppendToOutgoingContext(ctx, kv[0], kv[1])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := inv.Processor.Process(ctx)
	if err != nil {
		return nil, fmt.Errorf("ext_proc stream: %w", err)
	}
	answers := make(chan *extprocv3.ProcessingResponse, len(msgs)+1)
	recvErr := make(chan error, 1)
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			answers <- a
		}
	}()
	var last *extprocv3.ProcessingResponse
	for i, m := range msgs {
		select {
		case a := <-answers:
			if a.GetImmediateResponse() != nil {
				return a, nil
			}
			return nil, fmt.Errorf("ext_proc: the processor answered %T before message %d, where Envoy waits for no answer", a.GetResponse(), i)
		default:
		}
		if err := stream.Send(m.Request); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("ext_proc send: %w", err)
		}
		if !m.AwaitsAnswer {
			continue
		}
		select {
		case last = <-answers:
		case err := <-recvErr:
			return nil, fmt.Errorf("ext_proc: stream ended without an answer: %w", err)
		}
		if last.GetImmediateResponse() != nil {
			break
		}
	}
	_ = stream.CloseSend()
	return last, nil
}

// invokeLambdaWire is invokeLambda over the wire: the processor's answer, then what Envoy makes of it. The
// processor's dynamic_metadata reaches the local-reply mappers only in the namespaces the filter receives
// (evaluator.ExtProcDynamicMetadata); with the marker they leave the answer alone, without it they rewrite it.
func (inv *Invoker) invokeLambdaWire(ctx context.Context, sel *evaluator.Selection, req *evaluator.Request, out *Result, meta map[string]*structpb.Struct) (*Result, error) {
	out.Integration = &Integration{Type: string(ir.AWSProxy)}
	a, err := inv.processOverWire(ctx, sel, req, meta)
	if err != nil {
		return nil, err
	}
	if a.GetImmediateResponse() == nil {
		// The processor let the request through: the route's fallback direct response (RTM-10).
		oc, err := inv.eval.Forward(sel, req)
		if err != nil {
			return nil, err
		}
		out.Response = fromEvaluatorResponse(oc.Response)
		return out, nil
	}
	return inv.immediateOverWire(sel, req, a, out)
}

// immediateOverWire is what Envoy makes of the processor's immediate response a.
func (inv *Invoker) immediateOverWire(sel *evaluator.Selection, req *evaluator.Request, a *extprocv3.ProcessingResponse, out *Result) (*Result, error) {
	im := a.GetImmediateResponse()
	status := int(im.GetStatus().GetCode())
	kept := inv.eval.ExtProcDynamicMetadata(sel, a.GetDynamicMetadata())
	if marker := kept[builder.ProcessorMetadataNamespace].GetFields()["processor"]; !marker.GetBoolValue() {
		r, err := inv.eval.LocalReplyWithMetadata(sel, req, status, string(im.GetBody()), "", im.GetDetails(), kept)
		if err != nil {
			return nil, err
		}
		out.Response = fromEvaluatorResponse(r)
		return out, nil
	}
	m := &Message{StatusCode: status, Headers: [][2]string{}}
	for _, o := range im.GetHeaders().GetSetHeaders() {
		m.Headers = append(m.Headers, [2]string{o.GetHeader().GetKey(), string(o.GetHeader().GetRawValue())})
	}
	if req.Method != "HEAD" {
		setBody(m, im.GetBody())
	}
	out.Response = m
	return out, nil
}

// rewriteAnswer is the HTTP_PROXY rewrite over the wire (one request_headers message, EXT-12): the header
// mutation of the processor's answer, which Envoy applies.
func rewriteAnswer(a *extprocv3.ProcessingResponse) (*extprocv3.HeaderMutation, error) {
	if a.GetRequestHeaders() == nil {
		return nil, fmt.Errorf("ext_proc: want a request_headers answer to the HTTP_PROXY rewrite, got %T (status %s)", a.GetResponse(),
			strconv.Itoa(int(a.GetImmediateResponse().GetStatus().GetCode())))
	}
	return a.GetRequestHeaders().GetResponse().GetHeaderMutation(), nil
}
