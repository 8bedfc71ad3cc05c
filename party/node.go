package party

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// maxMessageSize bounds every gRPC message a node sends or accepts. Large
// objects (key shares, uploads) are streamed in chunks of chunkSize.
const (
	maxMessageSize = 8 << 20
	chunkSize      = 1 << 20
)

// Node is one data owner's Jointly node.
type Node struct {
	cfg    Config
	logger hclog.Logger
	preset crypto.Preset
	params rlwe.Parameters
	store  *store
	data   Dataset
	opts   options

	lis    net.Listener
	server *grpc.Server
	health *health.Server
	// healthLis and healthSrv serve the health service alone, in
	// plaintext, when health.listen is set (health.go).
	healthLis net.Listener
	healthSrv *grpc.Server

	// tr is how the node talks to its peers (transport.go).
	tr transport

	keyMu     sync.RWMutex
	keys      *keySet
	setupErr  error
	setupDone chan struct{}

	queries *queryTable
	layouts layouts
	gov     *governance
	drain   *drain

	// failed receives the error that ends the node on its own: a setup
	// that cannot finish (Run returns it).
	failed    chan error
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Option customizes a Node.
type Option func(*options)

type options struct {
	listener      net.Listener
	serverOptions []grpc.ServerOption
	dialOptions   []grpc.DialOption
	dataset       Dataset
	transport     transport
	// offline runs the node without a server: its peers reach it through
	// an in-memory transport (tests of the protocols without sockets).
	offline bool
	// queryTTL, if set, replaces how long a charged query may wait for its
	// next step before it is recorded as aborted (tests).
	queryTTL time.Duration
	// certCheck, if set, replaces how often the node looks at its
	// certificate files (tests).
	certCheck time.Duration
}

// WithPendingTimeout sets how long a query this node charged may wait for
// its next step (its upload, its releases) before it is recorded as
// aborted. The default is the matching timeout plus twice the RPC timeout
// plus ten minutes.
func WithPendingTimeout(d time.Duration) Option { return func(o *options) { o.queryTTL = d } }

// WithListener serves on lis instead of listening on Config.Listen.
func WithListener(lis net.Listener) Option { return func(o *options) { o.listener = lis } }

// WithServerOptions adds gRPC server options (e.g. interceptors).
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.serverOptions = append(o.serverOptions, opts...) }
}

// WithDialOptions adds gRPC dial options for calls to peers.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// withOffline runs the node without a listener, reaching its peers (and
// reached by them) through t: the protocols' tests without sockets.
func withOffline(t transport) Option {
	return func(o *options) { o.transport, o.offline = t, true }
}

// WithDataset sets the data the node serves.
func WithDataset(d Dataset) Option { return func(o *options) { o.dataset = d } }

// New validates cfg and prepares a node; Start runs it.
func New(cfg Config, logger hclog.Logger, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkTLSDir(); err != nil {
		return nil, err
	}
	// Before anything is written: data_dir is created if missing, and a
	// directory the node cannot use is reported as such.
	store, err := openStore(&cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	n := &Node{
		cfg:       cfg,
		logger:    logger.Named(cfg.Name),
		store:     store,
		setupDone: make(chan struct{}),
		queries:   newQueryTable(),
		drain:     newDrain(cfg.Name),
		failed:    make(chan error, 1),
	}
	for _, o := range opts {
		o(&n.opts)
	}
	n.data = n.opts.dataset
	n.tr = n.opts.transport
	if n.tr == nil {
		peers := make(map[string]string, len(cfg.Peers))
		for _, p := range cfg.Peers {
			peers[p.Name] = p.Address
		}
		n.tr = newGRPCTransport(transportConfig{self: cfg.Name, peers: peers, tlsDir: cfg.TLSDir,
			rpcTimeout: cfg.RPCTimeout, longTimeout: cfg.MatchTimeout, dialOptions: n.opts.dialOptions})
	}
	if n.preset, err = crypto.LookupPreset(cfg.Preset); err != nil {
		return nil, err
	}
	if n.params, err = n.preset.Parameters(); err != nil {
		return nil, err
	}
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the address the node listens on, once started.
func (n *Node) Addr() string {
	if n.lis == nil {
		return n.cfg.Listen
	}
	return n.lis.Addr().String()
}

// Start listens, serves the gRPC API and starts the federation setup (or
// loads the keys of a previous one). It returns once the server accepts
// connections; setup goes on in the background (see WaitSetup), retrying
// for as long as timeouts.setup_wait allows.
func (n *Node) Start(ctx context.Context) (err error) {
	if n.opts.offline {
		return n.startOffline(ctx)
	}
	lis := n.opts.listener
	if lis == nil {
		if lis, err = net.Listen("tcp", n.cfg.Listen); err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: listen: another process, perhaps another jointly node, listens on %s: stop it, or set listen to a free port: %w", ErrNotReady, n.cfg.Listen, err)
			}
			return fmt.Errorf("party: listen on %s: %w", n.cfg.Listen, err)
		}
	}
	n.lis = lis
	// The TLS identity before anything is read, written or charged: an
	// expired certificate stops the node here.
	var tlsCfg *tls.Config
	if n.cfg.TLSDir != "" {
		if tlsCfg, err = pki.LoadServerTLS(n.cfg.TLSDir, n.cfg.Name); err != nil {
			lis.Close()
			return fmt.Errorf("party: tls_dir: %w", err)
		}
	}
	defer func() {
		if err != nil {
			lis.Close()
			if n.healthLis != nil {
				n.healthLis.Close()
			}
			n.gov.close()
		}
	}()
	var loaded *Table
	if n.data == nil {
		if n.cfg.Source == nil {
			n.logger.Warn("no source configured: this node offers no data")
			n.data = MemoryDataset{}
		} else {
			if loaded, err = LoadTable(ctx, &n.cfg, n.logger); err != nil {
				return err
			}
			n.data = loaded
		}
	}
	if err := n.openGovernance(); err != nil {
		return n.dataDirInUse(err)
	}
	if loaded != nil {
		// Before the node serves: every column's public bounds are known,
		// and an estimate is charged and audited before anyone sees it.
		if err := n.resolveBounds(loaded); err != nil {
			return err
		}
		if err := n.countConsent(loaded); err != nil {
			return err
		}
	}
	sopts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.ChainUnaryInterceptor(deadlineUnary(n.cfg.RPCTimeout)),
		grpc.ChainStreamInterceptor(deadlineStream(n.cfg.RPCTimeout)),
	}, n.opts.serverOptions...)
	if tlsCfg != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		sopts = append(sopts, pki.NewAuthorizer(n.authPolicy()).ServerOptions()...)
	}
	n.server = grpc.NewServer(sopts...)
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.server, n.health)
	pb.RegisterFederationServer(n.server, &federationServer{n: n})
	pb.RegisterQueryServer(n.server, &queryServer{n: n})
	reflection.Register(n.server)
	n.health.SetServingStatus(pb.Federation_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	n.setServing(false)
	if n.cfg.HealthListen != "" {
		if err := n.startHealthListener(); err != nil {
			return err
		}
	}

	ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.logger.Error("grpc server stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.runSetupAndWatch(ctx)
	}()
	if n.cfg.TLSDir != "" {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.watchCertificate(ctx)
		}()
	}
	n.logger.Info("node started", "addr", n.Addr(), "health_addr", n.HealthAddr(), "federation", n.cfg.Federation, "preset", n.cfg.Preset, "peers", len(n.cfg.Peers))
	return nil
}

// startOffline is Start without a listener or a gRPC server.
func (n *Node) startOffline(ctx context.Context) error {
	if n.data == nil {
		n.data = MemoryDataset{}
	}
	if err := n.openGovernance(); err != nil {
		return n.dataDirInUse(err)
	}
	ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.runSetupAndWatch(ctx)
	}()
	return nil
}

// dataDirInUse says what a locked audit log means: another node runs
// with this data_dir (the lock dies with its process). It is ErrNotReady,
// unavailable, since starting again once that node has stopped succeeds.
func (n *Node) dataDirInUse(err error) error {
	if !errors.Is(err, audit.ErrLocked) {
		return err
	}
	return fmt.Errorf("%w: another jointly node is running with data_dir %s: stop it first, or give this node a data_dir of its own (%w)", ErrNotReady, n.cfg.DataDir, err)
}

// runSetupAndWatch runs setup, then keeps the health status in step with
// the peers until the node stops.
func (n *Node) runSetupAndWatch(ctx context.Context) {
	loaded := n.store.exists(currentFile)
	ks, err := n.runSetup(ctx)
	n.finishSetup(ctx, ks, err)
	if err == nil && n.health != nil {
		n.watchPeers(ctx, ks, !loaded)
	}
}

// Run starts the node and blocks until ctx is cancelled, then stops it
// (Close). It returns an error, after stopping the node, when the node
// cannot go on: setup failed in a way no retry fixes, or did not finish
// within timeouts.setup_wait.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return n.Close()
	case err := <-n.failed:
		n.Close()
		return err
	}
}

// WaitSetup blocks until the collective keys exist or setup failed.
func (n *Node) WaitSetup(ctx context.Context) error {
	select {
	case <-n.setupDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	n.keyMu.RLock()
	defer n.keyMu.RUnlock()
	return n.setupErr
}

// Close stops the node. It drains first: the health service reports
// NOT_SERVING, calls that would start a query are refused with
// Unavailable, and the queries the node takes part in may finish, for
// timeouts.shutdown at most. Then it stops the server (hard, cancelling
// what still runs, once that time is up), waits for background work, and
// closes the audit log, the budget ledger and the peer connections. Every
// audit event and ledger charge is on disk when it is written, so a query
// cut off leaves both consistent for the next start. Close may be called
// more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(n.shutdown)
	return nil
}

func (n *Node) shutdown() {
	deadline := time.Now().Add(n.cfg.ShutdownTimeout)
	n.drain.begin()
	if n.health != nil {
		n.health.Shutdown() // NOT_SERVING everywhere, for good
	}
	if n.cancel != nil {
		n.cancel()
	}
	if calls, waiting := n.drain.wait(deadline, func() int { return n.queries.awaiting(n.cfg.Name) }); calls+waiting > 0 {
		n.logger.Warn("queries still running at the shutdown deadline: they are cut off", "timeout", n.cfg.ShutdownTimeout,
			"calls", calls, "awaiting_release", waiting)
	}
	if n.server != nil {
		// What is left are calls outside any query (and those cut off):
		// a moment to finish, then a hard stop.
		stopServer(n.server, max(time.Until(deadline), 100*time.Millisecond), n.logger)
	}
	if n.healthSrv != nil {
		n.healthSrv.Stop()
	}
	n.wg.Wait()
	n.gov.close()
	n.tr.Close()
	n.logger.Info("node stopped")
}

// stopServer stops s gracefully, letting calls in flight finish for at
// most grace, then stops it hard: the calls still running are cancelled
// and their connections closed. A graceful stop alone waits for every
// handler to return, so one that never does (a loop that ignores its
// context) would keep the node from ever stopping. It reports whether it
// had to stop hard; the goroutine of the abandoned graceful stop then
// stays blocked until the process exits.
func stopServer(s *grpc.Server, grace time.Duration, logger hclog.Logger) bool {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return false
	case <-timer.C:
	}
	logger.Warn("calls still running after the shutdown timeout: stopping hard", "timeout", grace)
	s.Stop()
	return true
}

// finishSetup records the outcome of setup. A setup that failed while the
// node was running, rather than because it was stopped, ends the node
// (Run returns the error).
func (n *Node) finishSetup(ctx context.Context, ks *keySet, err error) {
	n.keyMu.Lock()
	n.keys, n.setupErr = ks, err
	n.keyMu.Unlock()
	close(n.setupDone)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		n.logger.Named("setup").Debug("setup stopped with the node")
	default:
		n.logger.Named("setup").Error("setup failed: the node stops", "error", err)
		n.failed <- err
	}
}

// currentKeys returns the collective keys or ErrNotReady.
func (n *Node) currentKeys() (*keySet, error) {
	n.keyMu.RLock()
	defer n.keyMu.RUnlock()
	if n.keys == nil {
		if n.setupErr != nil {
			return nil, fmt.Errorf("%w: setup failed: %v", ErrNotReady, n.setupErr)
		}
		return nil, fmt.Errorf("%w: federation setup has not finished", ErrNotReady)
	}
	return n.keys, nil
}

// authPolicy admits the configured peers as nodes on every service and the
// configured queriers on the Query service (and the standard health and
// reflection services).
func (n *Node) authPolicy() pki.Policy {
	var allowed []pki.Identity
	for _, p := range n.cfg.Peers {
		allowed = append(allowed, pki.Identity{Name: p.Name, Role: pki.RoleNode})
	}
	for _, q := range n.cfg.Queriers {
		allowed = append(allowed, pki.Identity{Name: q.Name, Role: pki.RoleQuerier})
	}
	return pki.Policy{
		Allowed: allowed,
		MethodRoles: map[string][]pki.Role{
			"/" + pb.Federation_ServiceDesc.ServiceName + "/": {pki.RoleNode},
			"/" + pb.Query_ServiceDesc.ServiceName + "/":      {pki.RoleNode, pki.RoleQuerier},
		},
		DefaultRoles: []pki.Role{pki.RoleNode, pki.RoleQuerier},
	}
}

// authenticate checks that the node name a caller claims in a message is
// one of this node's peers and that the caller's certificate carries it.
// Without TLS (loopback development) a peer's claim is taken as it is.
func (n *Node) authenticate(ctx context.Context, claimed string) error {
	if _, ok := n.cfg.peerAddress(claimed); !ok {
		return fmt.Errorf("%w: %q is not a peer of this node", ErrUnknownParty, claimed)
	}
	if n.cfg.TLSDir == "" {
		return nil
	}
	id, err := pki.IdentityFromContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnknownParty, err)
	}
	if id.Name != claimed || id.Role != pki.RoleNode {
		return fmt.Errorf("%w: %s cannot act as node %q", ErrUnknownParty, id, claimed)
	}
	return nil
}

// evaluatorQuery authenticates a peer acting as the evaluator of a joint
// query and validates the query it sends.
func (n *Node) evaluatorQuery(ctx context.Context, evaluator string, spec *pb.QuerySpec) (*Query, error) {
	if err := n.authenticate(ctx, evaluator); err != nil {
		return nil, err
	}
	return queryFromProto(n.params, spec)
}

// deadlineUnary gives every incoming call without a deadline the node's RPC
// timeout, so no handler can block forever.
func deadlineUnary(timeout time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return h(ctx, req)
	}
}

func deadlineStream(timeout time.Duration) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if _, ok := ss.Context().Deadline(); ok {
			return h(srv, ss)
		}
		ctx, cancel := context.WithTimeout(ss.Context(), timeout)
		defer cancel()
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
