package party

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// memTransport is the transport's in-memory implementation: a call to a
// peer runs the peer's own handler (federationServer, queryServer) in this
// process, with streams as channels. It exercises every protocol step
// and every handler exactly as gRPC would, without sockets.
type memTransport struct {
	self  string
	mu    sync.Mutex
	nodes map[string]*Node // the federation, shared by every node's transport
}

var _ transport = (*memTransport)(nil)

// memFederation is a set of nodes wired to each other in memory. Nodes
// are added before any starts.
type memFederation struct {
	nodes map[string]*Node
}

func (f *memFederation) transport(self string) *memTransport {
	return &memTransport{self: self, nodes: f.nodes}
}

func (t *memTransport) peer(name string) (*Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[name]
	if !ok || name == t.self {
		return nil, ErrUnknownParty
	}
	return n, nil
}

func (t *memTransport) Hello(ctx context.Context, peer string, req *pb.HelloRequest) (*pb.HelloResponse, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	resp, err := (&federationServer{n: n}).Hello(ctx, clone(req))
	return resp, fromStatus(peer, "hello", err)
}

func (t *memTransport) SetupShare(ctx context.Context, peer string, req *pb.SetupShareRequest) ([]byte, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	p := newMemPipe[pb.Chunk, pb.Chunk](ctx)
	go p.serve(func() error { return (&federationServer{n: n}).GetSetupShare(clone(req), p) })
	p.CloseSend()
	b, err := recvChunks(&memClient[pb.Chunk, pb.Chunk]{p: p, peer: peer, call: "get " + req.Kind.String()}, maxShare)
	p.cancel()
	return b, err
}

func (t *memTransport) Info(ctx context.Context, peer string) (*pb.InfoResponse, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	resp, err := (&queryServer{n: n}).Info(ctx, &pb.InfoRequest{})
	return resp, fromStatus(peer, "info", err)
}

func (t *memTransport) Admit(ctx context.Context, peer string, req *pb.AdmitRequest) (*pb.AdmitResponse, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	resp, err := (&federationServer{n: n}).Admit(ctx, clone(req))
	return resp, fromStatus(peer, "admit", err)
}

func (t *memTransport) Abort(ctx context.Context, peer string, req *pb.AbortRequest) error {
	n, err := t.peer(peer)
	if err != nil {
		return err
	}
	_, err = (&federationServer{n: n}).Abort(ctx, clone(req))
	return fromStatus(peer, "abort", err)
}

func (t *memTransport) Prepare(ctx context.Context, peer string, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	resp, err := (&federationServer{n: n}).Prepare(ctx, clone(req))
	return resp, fromStatus(peer, "prepare", err)
}

func (t *memTransport) Match(ctx context.Context, peer string) (matchConn, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	p := newMemPipe[pb.MatchFrame, pb.MatchFrame](ctx)
	go p.serve(func() error { return (&federationServer{n: n}).Match(p) })
	return &memClient[pb.MatchFrame, pb.MatchFrame]{p: p, peer: peer, call: "match"}, nil
}

func (t *memTransport) Upload(ctx context.Context, peer string) (uploadConn, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	p := newMemPipe[pb.UploadChunk, pb.UploadReceipt](ctx)
	go p.serve(func() error { return (&federationServer{n: n}).Upload(p) })
	return &memClient[pb.UploadChunk, pb.UploadReceipt]{p: p, peer: peer, call: "upload"}, nil
}

func (t *memTransport) ReleaseShares(ctx context.Context, peer string) (releaseConn, error) {
	n, err := t.peer(peer)
	if err != nil {
		return nil, err
	}
	p := newMemPipe[pb.ReleaseShareRequest, pb.ReleaseShareResponse](ctx)
	go p.serve(func() error { return (&federationServer{n: n}).ReleaseShares(p) })
	return &memClient[pb.ReleaseShareRequest, pb.ReleaseShareResponse]{p: p, peer: peer, call: "release"}, nil
}

func (t *memTransport) Close() error { return nil }

// memPipe is one stream: the client's requests flow to the handler, the
// handler's responses back; when the handler returns, its error (a status,
// as toStatus made it) ends the stream for the client.
type memPipe[Req, Resp any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	reqs   chan *Req
	resps  chan *Resp
	done   chan struct{}
	err    error
	close  sync.Once
}

func newMemPipe[Req, Resp any](ctx context.Context) *memPipe[Req, Resp] {
	ctx, cancel := context.WithCancel(ctx)
	return &memPipe[Req, Resp]{ctx: ctx, cancel: cancel, reqs: make(chan *Req, 16), resps: make(chan *Resp, 16), done: make(chan struct{})}
}

func (p *memPipe[Req, Resp]) serve(handler func() error) {
	p.err = handler()
	close(p.done)
}

// The handler's side (grpc.ServerStream and the typed stream methods).

func (p *memPipe[Req, Resp]) Recv() (*Req, error) {
	select {
	case r, ok := <-p.reqs:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-p.ctx.Done():
		return nil, p.ctx.Err()
	}
}

func (p *memPipe[Req, Resp]) Send(r *Resp) error {
	select {
	case p.resps <- clone(r):
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

func (p *memPipe[Req, Resp]) SendAndClose(r *Resp) error { return p.Send(r) }

func (p *memPipe[Req, Resp]) Context() context.Context     { return p.ctx }
func (p *memPipe[Req, Resp]) SetHeader(metadata.MD) error  { return nil }
func (p *memPipe[Req, Resp]) SendHeader(metadata.MD) error { return nil }
func (p *memPipe[Req, Resp]) SetTrailer(metadata.MD)       {}

// SendMsg and RecvMsg are for interceptors, which memTransport has none of.
func (p *memPipe[Req, Resp]) SendMsg(any) error {
	return errors.New("memPipe: SendMsg is not supported")
}
func (p *memPipe[Req, Resp]) RecvMsg(any) error {
	return errors.New("memPipe: RecvMsg is not supported")
}

// CloseSend ends the client's requests.
func (p *memPipe[Req, Resp]) CloseSend() error {
	p.close.Do(func() { close(p.reqs) })
	return nil
}

// recv is the client's receive: the handler's responses, then its error
// or io.EOF.
func (p *memPipe[Req, Resp]) recv() (*Resp, error) {
	select {
	case r := <-p.resps:
		return r, nil
	case <-p.done:
		select {
		case r := <-p.resps:
			return r, nil
		default:
		}
		if p.err != nil {
			return nil, p.err
		}
		return nil, io.EOF
	case <-p.ctx.Done():
		return nil, p.ctx.Err()
	}
}

// memClient is the caller's side of a memPipe, with the grpc transport's
// error mapping.
type memClient[Req, Resp any] struct {
	p          *memPipe[Req, Resp]
	peer, call string
}

func (c *memClient[Req, Resp]) Send(r *Req) error {
	select {
	case c.p.reqs <- clone(r):
		return nil
	case <-c.p.done:
		return io.EOF // as gRPC: the status comes with the next receive
	case <-c.p.ctx.Done():
		return fromStatus(c.peer, c.call, c.p.ctx.Err())
	}
}

func (c *memClient[Req, Resp]) Recv() (*Resp, error) {
	r, err := c.p.recv()
	if err == io.EOF {
		return nil, err
	}
	return r, fromStatus(c.peer, c.call, err)
}

func (c *memClient[Req, Resp]) CloseSend() error { return c.p.CloseSend() }

func (c *memClient[Req, Resp]) CloseAndRecv() (*Resp, error) {
	c.p.CloseSend()
	return c.Recv()
}

func (c *memClient[Req, Resp]) Close() { c.p.cancel() }

// memQuerier is a querier that submits to a node's handler in memory.
type memQuerier struct {
	params rlwe.Parameters
	sk     *rlwe.SecretKey
	pk     []byte
}

func newMemQuerier(params rlwe.Parameters) (*memQuerier, error) {
	sk, pk := rlwe.NewKeyGenerator(params).GenKeyPairNew()
	b, err := crypto.MarshalWire(params, pk)
	if err != nil {
		return nil, err
	}
	return &memQuerier{params: params, sk: sk, pk: b}, nil
}

// run submits spec to n's SubmitJoint handler and decodes the result as
// Client.Joint does.
func (q *memQuerier) run(ctx context.Context, n *Node, spec *pb.QuerySpec) (*JointResult, error) {
	p := newMemPipe[pb.SubmitRequest, pb.JointResultPart](ctx)
	defer p.cancel()
	go p.serve(func() error { return (&queryServer{n: n}).SubmitJoint(&pb.SubmitRequest{Query: spec}, p) })
	c := &memClient[pb.SubmitRequest, pb.JointResultPart]{p: p, peer: n.cfg.Name, call: "submit"}
	return decodeJoint(q.params, q.sk, spec, progressParts(c.Recv, nil))
}

// clone copies a message as gRPC's serialization would: the sender may
// reuse its buffers once Send returns.
func clone[T any](m *T) *T { return proto.Clone(any(m).(proto.Message)).(any).(*T) }
