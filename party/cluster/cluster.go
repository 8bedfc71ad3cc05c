package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/pki"
)

// Querier is the name of the querier identity every cluster admits.
const Querier = "researcher"

// Options configure a cluster.
type Options struct {
	// Dir holds the federation CA and the identities (Dir/pki) and each
	// node's data directory (Dir/NAME). It must be set; Close leaves it in
	// place.
	Dir string
	// Names are the nodes' names, two or more.
	Names []string
	// Federation names the federation.
	Federation string
	// Preset is the HE parameter preset (default party.DefaultConfig's);
	// an insecure preset is allowed.
	Preset string
	// Insecure runs the nodes with plaintext loopback gRPC instead of
	// mutual TLS, and issues no identities.
	Insecure bool
	// Epsilon and Delta are the querier's privacy budget at every node.
	Epsilon, Delta float64
	// Datasets are served instead of the nodes' sources, one per node
	// (a nil or missing entry leaves the node to its source, or to no
	// data).
	Datasets []party.Dataset
	// Listeners, one per node, are served on by each node at its first
	// start; Close closes those no node took. Without them Configure picks
	// free loopback ports, which another process may take before the nodes
	// start.
	Listeners []net.Listener
	// Logger receives the nodes' logs (default: discarded).
	Logger hclog.Logger
}

// Cluster is a federation of nodes run in this process.
type Cluster struct {
	// Configs are the nodes' configurations. The caller may change them
	// before a node starts; StartNode validates its configuration in
	// place, filling its defaults.
	Configs []party.Config
	// Nodes are the nodes, nil until started; a stopped node stays until
	// it is started again.
	Nodes []*party.Node
	// PKIDir holds the federation CA (ca/) and one directory of
	// certificates per identity; empty for an insecure cluster.
	PKIDir string

	datasets  []party.Dataset
	listeners []net.Listener
	logger    hclog.Logger
	started   []*party.Node
}

// Configure issues the identities and prepares the configurations of the
// nodes in o.Names, each listening on loopback and naming the others as
// its peers, with the querier admitted at o.Epsilon and o.Delta. It starts
// nothing. Close releases what it holds.
func Configure(o Options) (*Cluster, error) {
	c := &Cluster{listeners: slices.Clone(o.Listeners), logger: o.Logger}
	if c.logger == nil {
		c.logger = hclog.NewNullLogger()
	}
	fail := func(err error) (*Cluster, error) {
		c.Close()
		return nil, err
	}
	n := len(o.Names)
	switch {
	case o.Dir == "":
		return fail(errors.New("cluster: Options.Dir must be set"))
	case n < 2:
		return fail(fmt.Errorf("cluster: a federation has two or more nodes, not %d", n))
	case len(o.Datasets) > n:
		return fail(fmt.Errorf("cluster: %d datasets for %d nodes", len(o.Datasets), n))
	case o.Listeners != nil && len(o.Listeners) != n:
		return fail(fmt.Errorf("cluster: %d listeners for %d nodes", len(o.Listeners), n))
	}
	cfg := party.DefaultConfig()
	if o.Preset != "" {
		cfg.Preset = o.Preset
	}
	preset, err := crypto.LookupPreset(cfg.Preset)
	if err != nil {
		return fail(fmt.Errorf("cluster: %w", err))
	}
	// Each node's loopback listener stays open until the node takes it, so
	// that no other process on the machine can take its port in between.
	if c.listeners == nil {
		c.listeners = make([]net.Listener, n)
		for i := range c.listeners {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fail(fmt.Errorf("cluster: %w", err))
			}
			c.listeners[i] = lis
		}
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = c.listeners[i].Addr().String()
	}
	if !o.Insecure {
		c.PKIDir = filepath.Join(o.Dir, "pki")
		if err := IssueIdentities(c.PKIDir, o.Names); err != nil {
			return fail(err)
		}
	}
	c.datasets = make([]party.Dataset, n)
	copy(c.datasets, o.Datasets)
	c.Nodes = make([]*party.Node, n)
	for i, name := range o.Names {
		cfg := cfg
		cfg.Name, cfg.Federation, cfg.Listen = name, o.Federation, addrs[i]
		cfg.DataDir = filepath.Join(o.Dir, name)
		cfg.AllowInsecurePreset = preset.Insecure
		if o.Insecure {
			cfg.InsecureLoopback = true
		} else {
			cfg.TLSDir = filepath.Join(c.PKIDir, name)
		}
		cfg.Queriers = []party.QuerierConfig{{Name: Querier, Epsilon: o.Epsilon, Delta: o.Delta}}
		for j, peer := range o.Names {
			if j != i {
				cfg.Peers = append(cfg.Peers, party.PeerConfig{Name: peer, Address: addrs[j]})
			}
		}
		c.Configs = append(c.Configs, cfg)
	}
	return c, nil
}

// IssueIdentities creates a throwaway federation CA in pkiDir/ca and
// issues a node identity in pkiDir/NAME for each of nodes, and a querier
// identity in pkiDir/researcher (Querier).
func IssueIdentities(pkiDir string, nodes []string) error {
	caDir := filepath.Join(pkiDir, "ca")
	if err := pki.InitCA(caDir); err != nil {
		return err
	}
	for _, name := range nodes {
		if err := pki.Issue(caDir, name, pki.RoleNode, nil, filepath.Join(pkiDir, name), pki.LeafValidity); err != nil {
			return err
		}
	}
	return pki.Issue(caDir, Querier, pki.RoleQuerier, nil, filepath.Join(pkiDir, Querier), pki.LeafValidity)
}

// TakeListener hands over node i's listener, held since Configure, to a
// caller that starts the node itself (party.WithListener); nil once a node
// has taken it.
func (c *Cluster) TakeListener(i int) net.Listener {
	lis := c.listeners[i]
	c.listeners[i] = nil
	return lis
}

// StartNode validates node i's configuration in place and starts the node
// (again, after StopNode), serving its dataset if it has one. opts are
// added to the node's options, such as gRPC interceptors that record what
// it sends. It returns once the node accepts connections; WaitSetup waits
// for the federation setup.
func (c *Cluster) StartNode(ctx context.Context, i int, opts ...party.Option) error {
	if i < 0 || i >= len(c.Configs) {
		return fmt.Errorf("cluster: no node %d in a cluster of %d", i, len(c.Configs))
	}
	if err := c.Configs[i].Validate(); err != nil {
		return err
	}
	var lis net.Listener
	if c.listeners != nil {
		lis = c.listeners[i]
	}
	if lis != nil {
		opts = append([]party.Option{party.WithListener(lis)}, opts...)
	}
	if c.datasets[i] != nil {
		opts = append([]party.Option{party.WithDataset(c.datasets[i])}, opts...)
	}
	node, err := party.New(c.Configs[i], c.logger, opts...)
	if err != nil {
		return err
	}
	if lis != nil {
		c.listeners[i] = nil // the node owns it now
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		if lis != nil {
			lis.Close()
		}
		return err
	}
	c.started = append(c.started, node)
	c.Nodes[i] = node
	return nil
}

// StopNode stops node i; its data directory stays for a restart.
func (c *Cluster) StopNode(i int) error {
	if i < 0 || i >= len(c.Nodes) || c.Nodes[i] == nil {
		return fmt.Errorf("cluster: node %d was never started", i)
	}
	return c.Nodes[i].Close()
}

// WaitSetup waits until the setup of every started node has finished and
// returns the first failure, naming the node.
func (c *Cluster) WaitSetup(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		g.Go(func() error {
			if err := n.WaitSetup(gctx); err != nil {
				return fmt.Errorf("setup of %s: %w", n.Name(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Dial connects to node i as the querier, with mutual TLS unless the
// cluster is insecure; timeout is the client's call deadline (see
// party.Dial).
func (c *Cluster) Dial(i int, timeout time.Duration) (*party.Client, error) {
	if i < 0 || i >= len(c.Configs) {
		return nil, fmt.Errorf("cluster: no node %d in a cluster of %d", i, len(c.Configs))
	}
	addr := c.Configs[i].Listen
	if c.Nodes[i] != nil {
		addr = c.Nodes[i].Addr()
	}
	if c.PKIDir == "" {
		return party.Dial(addr, timeout)
	}
	return party.DialTLS(addr, filepath.Join(c.PKIDir, Querier), Querier, c.Configs[i].Name, timeout)
}

// Close stops every node the cluster started and closes the listeners no
// node took. The files in Options.Dir stay.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.started {
		errs = append(errs, n.Close())
	}
	c.started = nil
	for i, lis := range c.listeners {
		if lis != nil {
			lis.Close()
			c.listeners[i] = nil
		}
	}
	return errors.Join(errs...)
}
