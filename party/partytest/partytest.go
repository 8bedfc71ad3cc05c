package partytest

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/cluster"
)

// Cluster is a set of running nodes that form one federation.
type Cluster struct {
	// Nodes and Configs are the underlying cluster's: a test may change a
	// configuration before it starts (or restarts) the node.
	Nodes       []*party.Node
	Configs     []party.Config
	Transcripts []*Recorder
	// PKIDir holds the throwaway federation CA (ca/) and one directory of
	// certificates per identity; empty for insecure clusters.
	PKIDir string
	c      *cluster.Cluster
	opts   []party.Option
}

// Options configure a cluster.
type Options struct {
	// Datasets, one per node (nil entries get an empty dataset).
	Datasets []party.Dataset
	// Preset defaults to the insecure test preset.
	Preset string
	// SetupTimeout (one attempt at setup) defaults to 2 minutes.
	SetupTimeout time.Duration
	// SetupWait bounds setup across attempts; zero waits until the node
	// is stopped, as a node does by default.
	SetupWait time.Duration
	// RetryMax, the longest pause between two attempts to reach a peer,
	// defaults to 200ms, so that a test waits little for a late node.
	RetryMax time.Duration
	// ShutdownTimeout defaults to 1 second: the nodes a test stops are
	// idle, or the test sets its own.
	ShutdownTimeout time.Duration
	// PeerCheck defaults to 10 minutes: after setup the nodes greet their
	// peers only if a test asks for it, so that what they send does not
	// depend on timing.
	PeerCheck time.Duration
	// Insecure runs the nodes with plaintext loopback gRPC instead of
	// mutual TLS with a throwaway federation CA.
	Insecure bool
	// NodeOptions are passed to every node.
	NodeOptions []party.Option
}

// Querier is the name of the querier identity every cluster admits.
const Querier = cluster.Querier

// NodeName is the name partytest gives node i.
func NodeName(i int) string { return fmt.Sprintf("node%d", i) }

// Start starts n nodes, waits until their federation setup has finished and
// registers their shutdown with t.Cleanup.
func Start(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := Configure(t, n, o)
	for i := range c.Configs {
		c.StartNode(t, i)
	}
	c.WaitSetup(t)
	return c
}

// Configure prepares the configurations of n nodes (listening on free
// loopback ports, data dirs under t.TempDir()) without starting them.
func Configure(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	o.Preset = cmp.Or(o.Preset, crypto.PresetTest)
	o.SetupTimeout = cmp.Or(o.SetupTimeout, 2*time.Minute)
	o.RetryMax = cmp.Or(o.RetryMax, 200*time.Millisecond)
	o.PeerCheck = cmp.Or(o.PeerCheck, 10*time.Minute)
	o.ShutdownTimeout = cmp.Or(o.ShutdownTimeout, time.Second)
	names := make([]string, n)
	for i := range names {
		names[i] = NodeName(i)
	}
	cl, err := cluster.Configure(cluster.Options{
		Dir:        t.TempDir(),
		Names:      names,
		Federation: "testfed",
		Preset:     o.Preset,
		Insecure:   o.Insecure,
		Epsilon:    1000,
		Delta:      1e-3,
		Datasets:   o.Datasets,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	for i := range cl.Configs {
		cfg := &cl.Configs[i]
		cfg.AllowInsecurePreset = true
		cfg.Policy = &party.PolicyConfig{AllowExact: true}
		cfg.SetupTimeout = o.SetupTimeout
		cfg.SetupWait = o.SetupWait
		cfg.RetryMax = o.RetryMax
		cfg.PeerCheck = o.PeerCheck
		cfg.ShutdownTimeout = o.ShutdownTimeout
		cfg.RPCTimeout = 30 * time.Second
	}
	c := &Cluster{Nodes: cl.Nodes, Configs: cl.Configs, PKIDir: cl.PKIDir, c: cl, Transcripts: make([]*Recorder, n), opts: o.NodeOptions}
	for i := range c.Transcripts {
		c.Transcripts[i] = &Recorder{}
	}
	return c
}

// TakeListener hands over node i's listener to a test that starts the
// node itself (party.WithListener).
func (c *Cluster) TakeListener(i int) net.Listener { return c.c.TakeListener(i) }

// StartNode starts node i (again, after StopNode) with its configuration;
// opts are added to the node's options (after the recorder's
// interceptors), such as interceptors that hold a call.
func (c *Cluster) StartNode(t testing.TB, i int, opts ...party.Option) {
	t.Helper()
	rec := c.Transcripts[i]
	err := c.c.StartNode(context.Background(), i, append([]party.Option{
		party.WithServerOptions(grpc.ChainUnaryInterceptor(rec.unaryServer), grpc.ChainStreamInterceptor(rec.streamServer)),
		party.WithDialOptions(grpc.WithChainUnaryInterceptor(rec.unaryClient), grpc.WithChainStreamInterceptor(rec.streamClient)),
	}, append(c.opts, opts...)...)...)
	if err != nil {
		t.Fatal(err)
	}
}

// Dial connects to node i as the cluster's querier.
func (c *Cluster) Dial(t testing.TB, i int) *party.Client {
	t.Helper()
	cl, err := c.c.Dial(i, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// StopNode stops node i.
func (c *Cluster) StopNode(t testing.TB, i int) {
	t.Helper()
	if err := c.c.StopNode(i); err != nil {
		t.Fatal(err)
	}
}

// StartAll validates every node's configuration (after a test edited it),
// starts every node and waits for their setup.
func (c *Cluster) StartAll(t testing.TB) {
	t.Helper()
	for k := range c.Configs {
		if err := c.Configs[k].Validate(); err != nil {
			t.Fatal(err)
		}
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
}

// WaitSetup waits for every node's setup to finish successfully.
func (c *Cluster) WaitSetup(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.c.WaitSetup(ctx); err != nil {
		t.Fatal(err)
	}
}

// Recorder keeps the serialized form of every message a node sends: its
// requests as a client and its responses as a server.
type Recorder struct {
	mu    sync.Mutex
	msgs  [][]byte
	calls []string
}

// Calls returns the full method names of the calls the node made, in order.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *Recorder) call(method string) {
	r.mu.Lock()
	r.calls = append(r.calls, method)
	r.mu.Unlock()
}

// Messages returns a copy of the recorded messages.
func (r *Recorder) Messages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.msgs...)
}

// Bytes returns the total size of the recorded messages.
func (r *Recorder) Bytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		n += len(m)
	}
	return n
}

func (r *Recorder) record(m any) {
	pm, ok := m.(proto.Message)
	if !ok {
		return
	}
	b, err := proto.Marshal(pm)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, b)
	r.mu.Unlock()
}

func (r *Recorder) unaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err == nil {
		r.record(resp)
	}
	return resp, err
}

func (r *Recorder) streamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &recordingServerStream{ServerStream: ss, r: r})
}

type recordingServerStream struct {
	grpc.ServerStream
	r *Recorder
}

func (s *recordingServerStream) SendMsg(m any) error {
	s.r.record(m)
	return s.ServerStream.SendMsg(m)
}

func (r *Recorder) unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	r.call(method)
	r.record(req)
	return inv(ctx, method, req, reply, cc, opts...)
}

func (r *Recorder) streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, st grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	r.call(method)
	cs, err := st(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &recordingClientStream{ClientStream: cs, r: r}, nil
}

type recordingClientStream struct {
	grpc.ClientStream
	r *Recorder
}

func (s *recordingClientStream) SendMsg(m any) error {
	s.r.record(m)
	return s.ClientStream.SendMsg(m)
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
