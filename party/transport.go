package party

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// transport is how the node's protocols talk to other nodes. The protocol
// code (setup, matching, joint queries) holds a transport, never a gRPC
// client: grpcTransport is the implementation over the network, which owns
// connections, deadlines and chunking, and the tests run the same
// protocols over an in-memory implementation. Every error a transport
// returns is a domain error (fromStatus) that names the peer and the call.
type transport interface {
	// Hello asks a peer for its federation, preset and CRS seed.
	Hello(ctx context.Context, peer string, req *pb.HelloRequest) (*pb.HelloResponse, error)
	// SetupShare fetches one of a peer's public setup shares, reassembled
	// from its chunks.
	SetupShare(ctx context.Context, peer string, req *pb.SetupShareRequest) ([]byte, error)
	// Info asks a peer to describe itself (columns and bounds).
	Info(ctx context.Context, peer string) (*pb.InfoResponse, error)
	// Match opens a private-matching session with a peer.
	Match(ctx context.Context, peer string) (matchConn, error)
	// Admit runs one admission round of a joint query at a y owner: a
	// check that charges nothing, or (req.Charge) the charge.
	Admit(ctx context.Context, peer string, req *pb.AdmitRequest) (*pb.AdmitResponse, error)
	// Abort tells a y owner that a charged query stopped.
	Abort(ctx context.Context, peer string, req *pb.AbortRequest) error
	// Prepare asks a y owner that charged a joint query to upload its
	// encrypted columns; it returns once the upload is done.
	Prepare(ctx context.Context, peer string, req *pb.PrepareRequest) (*pb.PrepareResponse, error)
	// Upload opens the stream of a y owner's encrypted columns to the
	// evaluator.
	Upload(ctx context.Context, peer string) (uploadConn, error)
	// ReleaseShares opens the stream that asks an owner for its key-switch
	// shares of a query's packs.
	ReleaseShares(ctx context.Context, peer string) (releaseConn, error)
	// Close releases every connection.
	Close() error
}

// matchConn is a matching session's stream (the caller is party A).
type matchConn interface {
	Send(*pb.MatchFrame) error
	Recv() (*pb.MatchFrame, error)
	CloseSend() error
	// Close ends the session and releases its resources.
	Close()
}

// uploadConn is an upload stream to the evaluator.
type uploadConn interface {
	Send(*pb.UploadChunk) error
	CloseAndRecv() (*pb.UploadReceipt, error)
	Close()
}

// releaseConn is a ReleaseShares stream to an owner.
type releaseConn interface {
	Send(*pb.ReleaseShareRequest) error
	Recv() (*pb.ReleaseShareResponse, error)
	CloseSend() error
	Close()
}

// transportConfig is what a grpcTransport needs to reach the peers.
type transportConfig struct {
	self  string
	peers map[string]string // name → address
	// tlsDir holds this node's certificate; empty for plaintext loopback.
	tlsDir string
	// rpcTimeout bounds the short calls (Hello, SetupShare, Info),
	// longTimeout the long ones (Match, Prepare, Upload, ReleaseShares).
	rpcTimeout, longTimeout time.Duration
	dialOptions             []grpc.DialOption
}

// grpcTransport is the transport over gRPC, with one lazily dialled,
// reused connection per peer.
type grpcTransport struct {
	cfg   transportConfig
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

var _ transport = (*grpcTransport)(nil)

func newGRPCTransport(cfg transportConfig) *grpcTransport {
	return &grpcTransport{cfg: cfg, conns: make(map[string]*grpc.ClientConn)}
}

// conn returns the connection to peer, dialling it on first use.
func (t *grpcTransport) conn(peer string) (*grpc.ClientConn, error) {
	c, err := t.dial(peer)
	if err != nil {
		return nil, err
	}
	reconnect(c)
	return c, nil
}

func (t *grpcTransport) dial(peer string) (*grpc.ClientConn, error) {
	addr, ok := t.cfg.peers[peer]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownParty, peer)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.conns[peer]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if t.cfg.tlsDir != "" {
		tlsCfg, err := pki.LoadClientTLS(t.cfg.tlsDir, t.cfg.self, peer)
		if err != nil {
			return nil, fmt.Errorf("party: tls_dir: %w", err)
		}
		creds = credentials.NewTLS(tlsCfg)
	}
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Peers come and go during setup; reconnect quickly rather than
		// after gRPC's default one-second backoff.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	}, t.cfg.dialOptions...)
	c, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("party: dial %s at %s: %w", peer, addr, err)
	}
	t.conns[peer] = c
	return c, nil
}

// reconnect makes a connection that failed to reach its peer try again
// now rather than after its backoff, and waits a moment for the outcome:
// a call on a connection in transient failure fails at once, so the first
// call to a peer that has just restarted would fail although the peer is
// back. A peer that is still down fails the call as fast as before.
func reconnect(c *grpc.ClientConn) {
	if c.GetState() != connectivity.TransientFailure {
		return
	}
	c.ResetConnectBackoff()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.WaitForStateChange(ctx, connectivity.TransientFailure)
}

// unary runs one unary call to peer under timeout and maps its status.
func unary[Resp any](ctx context.Context, t *grpcTransport, peer, call string, timeout time.Duration, do func(context.Context, *grpc.ClientConn) (Resp, error)) (Resp, error) {
	c, err := t.conn(peer)
	if err != nil {
		var zero Resp
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := do(ctx, c)
	return resp, fromStatus(peer, call, err)
}

// open opens a stream to peer that lives until its cancel is called (by
// the stream wrapper's Close), bounded by the long timeout.
func open[S any](ctx context.Context, t *grpcTransport, peer, call string, do func(context.Context, pb.FederationClient) (S, error)) (S, context.CancelFunc, error) {
	var zero S
	c, err := t.conn(peer)
	if err != nil {
		return zero, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.longTimeout)
	s, err := do(ctx, pb.NewFederationClient(c))
	if err != nil {
		cancel()
		return zero, nil, fromStatus(peer, call, err)
	}
	return s, cancel, nil
}

func (t *grpcTransport) Hello(ctx context.Context, peer string, req *pb.HelloRequest) (*pb.HelloResponse, error) {
	return unary(ctx, t, peer, "hello", t.cfg.rpcTimeout, func(ctx context.Context, c *grpc.ClientConn) (*pb.HelloResponse, error) {
		return pb.NewFederationClient(c).Hello(ctx, req)
	})
}

func (t *grpcTransport) SetupShare(ctx context.Context, peer string, req *pb.SetupShareRequest) ([]byte, error) {
	return unary(ctx, t, peer, "get "+req.Kind.String(), t.cfg.rpcTimeout, func(ctx context.Context, c *grpc.ClientConn) ([]byte, error) {
		stream, err := pb.NewFederationClient(c).GetSetupShare(ctx, req)
		if err != nil {
			return nil, err
		}
		return recvChunks(stream, maxShare)
	})
}

func (t *grpcTransport) Info(ctx context.Context, peer string) (*pb.InfoResponse, error) {
	return unary(ctx, t, peer, "info", t.cfg.rpcTimeout, func(ctx context.Context, c *grpc.ClientConn) (*pb.InfoResponse, error) {
		return pb.NewQueryClient(c).Info(ctx, &pb.InfoRequest{})
	})
}

func (t *grpcTransport) Admit(ctx context.Context, peer string, req *pb.AdmitRequest) (*pb.AdmitResponse, error) {
	return unary(ctx, t, peer, "admit", t.cfg.rpcTimeout, func(ctx context.Context, c *grpc.ClientConn) (*pb.AdmitResponse, error) {
		return pb.NewFederationClient(c).Admit(ctx, req)
	})
}

func (t *grpcTransport) Abort(ctx context.Context, peer string, req *pb.AbortRequest) error {
	_, err := unary(ctx, t, peer, "abort", t.cfg.rpcTimeout, func(ctx context.Context, c *grpc.ClientConn) (*pb.AbortResponse, error) {
		return pb.NewFederationClient(c).Abort(ctx, req)
	})
	return err
}

func (t *grpcTransport) Prepare(ctx context.Context, peer string, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	return unary(ctx, t, peer, "prepare", t.cfg.longTimeout, func(ctx context.Context, c *grpc.ClientConn) (*pb.PrepareResponse, error) {
		return pb.NewFederationClient(c).Prepare(ctx, req)
	})
}

func (t *grpcTransport) Match(ctx context.Context, peer string) (matchConn, error) {
	s, cancel, err := open(ctx, t, peer, "match", func(ctx context.Context, fc pb.FederationClient) (pb.Federation_MatchClient, error) {
		return fc.Match(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &grpcMatch{s: s, peer: peer, cancel: cancel}, nil
}

func (t *grpcTransport) Upload(ctx context.Context, peer string) (uploadConn, error) {
	s, cancel, err := open(ctx, t, peer, "upload", func(ctx context.Context, fc pb.FederationClient) (pb.Federation_UploadClient, error) {
		return fc.Upload(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &grpcUpload{s: s, peer: peer, cancel: cancel}, nil
}

func (t *grpcTransport) ReleaseShares(ctx context.Context, peer string) (releaseConn, error) {
	s, cancel, err := open(ctx, t, peer, "release", func(ctx context.Context, fc pb.FederationClient) (pb.Federation_ReleaseSharesClient, error) {
		return fc.ReleaseShares(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &grpcRelease{s: s, peer: peer, cancel: cancel}, nil
}

func (t *grpcTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, c := range t.conns {
		c.Close()
		delete(t.conns, name)
	}
	return nil
}

// The stream adapters map every error to a domain error naming the peer.
// A Send error is io.EOF when the peer ended the stream; the peer's status
// then arrives on Recv (or CloseAndRecv), as gRPC documents.

type grpcMatch struct {
	s      pb.Federation_MatchClient
	peer   string
	cancel context.CancelFunc
}

func (m *grpcMatch) Send(f *pb.MatchFrame) error { return fromStatus(m.peer, "match", m.s.Send(f)) }
func (m *grpcMatch) Recv() (*pb.MatchFrame, error) {
	f, err := m.s.Recv()
	return f, fromStatus(m.peer, "match", err)
}
func (m *grpcMatch) CloseSend() error { return fromStatus(m.peer, "match", m.s.CloseSend()) }
func (m *grpcMatch) Close()           { m.cancel() }

type grpcUpload struct {
	s      pb.Federation_UploadClient
	peer   string
	cancel context.CancelFunc
}

func (u *grpcUpload) Send(c *pb.UploadChunk) error { return u.s.Send(c) }
func (u *grpcUpload) CloseAndRecv() (*pb.UploadReceipt, error) {
	r, err := u.s.CloseAndRecv()
	return r, fromStatus(u.peer, "upload", err)
}
func (u *grpcUpload) Close() { u.cancel() }

type grpcRelease struct {
	s      pb.Federation_ReleaseSharesClient
	peer   string
	cancel context.CancelFunc
}

func (r *grpcRelease) Send(req *pb.ReleaseShareRequest) error { return r.s.Send(req) }
func (r *grpcRelease) Recv() (*pb.ReleaseShareResponse, error) {
	resp, err := r.s.Recv()
	return resp, fromStatus(r.peer, "release", err)
}
func (r *grpcRelease) CloseSend() error { return r.s.CloseSend() }
func (r *grpcRelease) Close()           { r.cancel() }

// forEachPeer runs fn for every peer concurrently and returns the first
// error; fn's context is cancelled as soon as one fails.
func forEachPeer(ctx context.Context, peers []string, fn func(ctx context.Context, k int, peer string) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for k, p := range peers {
		g.Go(func() error { return fn(gctx, k, p) })
	}
	return g.Wait()
}

// retryBackoff is capped exponential backoff with full jitter: the n-th
// wait is uniform in [0, min(max, base·2^n)], which keeps peers that
// started together from retrying in lockstep.
type retryBackoff struct {
	base, max time.Duration
	attempt   int
}

// wait sleeps for the next delay, or returns ctx's error when it ends
// first.
func (b *retryBackoff) wait(ctx context.Context) error {
	d := b.base << min(b.attempt, 20)
	if d <= 0 || d > b.max {
		d = b.max
	}
	b.attempt++
	timer := time.NewTimer(rand.N(d) + 1)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
