package extproc

import (
	"runtime"

	"google.golang.org/grpc"
)

// Flow-control windows of the processor's server side. Fixed windows turn off grpc-go's BDP estimation, which
// otherwise answers data frames with PING round trips on a connection whose peer (Envoy) uses fixed windows
// itself; 4 MiB per stream and 16 MiB per connection keep a BUFFERED body of several MB flowing without waiting
// for WINDOW_UPDATEs on a co-located or same-zone link. grpc-go still widens a stream's window for a single
// message larger than it (maxProcessorMessage bodies).
const (
	StreamWindow = 4 << 20
	ConnWindow   = 16 << 20
)

// ServerOptions are the grpc.Server options the processor is meant to run with (add the message-size limits):
//
//   - fixed flow-control windows (StreamWindow, ConnWindow): no BDP PING frames on the request path;
//   - stream workers, one per GOMAXPROCS: Envoy opens one stream per HTTP request, and without workers grpc-go
//     starts a goroutine for each whose stack then grows (runtime.morestack, copystack) on every request; a
//     worker keeps its grown stack, and grpc-go still starts a goroutine when all workers are busy;
//   - the proto codec with the service's received messages copied whole (serverCodec; without it the service
//     works the same, through proto.Unmarshal).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnWindow),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.ForceServerCodecV2(newServerCodec()),
	}
}
