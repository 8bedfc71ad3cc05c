package party

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/hcldiag"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/source"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("party: invalid configuration")

// Config is a node's configuration, read from an HCL file:
//
//	name       = "retailer"
//	federation = "grocer-insurer"
//	listen     = "127.0.0.1:7101"
//	data_dir   = "./data/retailer"
//	preset     = "coef13"
//	insecure_loopback = true
//
//	peer "insurer" {
//	  address = "127.0.0.1:7102"
//	}
//
//	timeouts {
//	  rpc   = "30s"
//	  setup = "10m"
//	}
//
//	health {
//	  listen = "127.0.0.1:7180"
//	}
type Config struct {
	// Name identifies the node in its federation (letters, digits, '-', '_').
	Name string `hcl:"name"`
	// Federation names the group of nodes that share a collective key. It is
	// bound into the common reference string and every matching session.
	Federation string `hcl:"federation"`
	// Listen is the TCP address the gRPC server listens on ("host:port";
	// port 0 picks a free port).
	Listen string `hcl:"listen"`
	// DataDir holds the node's keys and state. Secret key shares are written
	// there with 0600 permissions and never leave it.
	DataDir string `hcl:"data_dir"`
	// Preset names the HE parameter preset (default "coef13"). Every node of a
	// federation must use the same one.
	Preset string `hcl:"preset,optional"`
	// AllowInsecurePreset must be set to use a preset marked insecure (the
	// unit-test preset).
	AllowInsecurePreset bool `hcl:"allow_insecure_preset,optional"`
	// TLSDir holds the node's identity for mutual TLS, as written by
	// `jointly ca issue --role node`: ca.crt, NAME.crt and NAME.key. Peers and
	// queriers are authenticated by the names in their certificates.
	TLSDir string `hcl:"tls_dir,optional"`
	// InsecureLoopback serves and dials plaintext gRPC without
	// authentication, for local development. It is refused unless the listen
	// address and every peer address are loopback addresses.
	InsecureLoopback bool `hcl:"insecure_loopback,optional"`
	// Queriers are the identities (certificate names with role querier)
	// allowed to submit queries.
	Queriers []QuerierConfig `hcl:"querier,block"`
	// JoinKey is the identifier kind records are matched on: "email"
	// (the default Validate fills in without JoinKeys), "phone" or "id". Every
	// node of a federation must use the same.
	JoinKey string `hcl:"join_key,optional"`
	// JoinKeys are several identifier kinds to match on, in priority order,
	// such as ["email", "phone"] (multi-key matching, docs/configuration.md);
	// one kind is the same as join_key. Not together with JoinKey. Every
	// node of a federation must declare the same list.
	JoinKeys []string `hcl:"join_keys,optional"`
	// MatchGraph, with several join_keys, says which owner of a matching
	// computes its match graph (party A, which learns more than sizes):
	// "either" (the default: the owner that starts the matching) or "self"
	// (always this node, whoever starts it). At most one node of a pair
	// may say "self".
	MatchGraph string `hcl:"match_graph,optional"`
	// Peers are the other data owners of the federation.
	Peers []PeerConfig `hcl:"peer,block"`
	// Source is where the node reads its records (see docs/data.md).
	Source *source.Config `hcl:"source,block"`
	// Policy is what this data owner allows; every query is checked against
	// it before the node contributes anything.
	Policy *PolicyConfig `hcl:"policy,block"`
	// Timeouts bound every remote call, the federation setup, a matching
	// session and the shutdown.
	Timeouts *TimeoutsConfig `hcl:"timeouts,block"`
	// Limits bound the joint queries the node evaluates at once.
	Limits *LimitsConfig `hcl:"limits,block"`
	// Health configures the health-only listener and the peer check.
	Health *HealthConfig `hcl:"health,block"`

	// RPCTimeout is the parsed Timeouts.RPC (default 30s).
	RPCTimeout time.Duration
	// SetupTimeout is the parsed Timeouts.Setup (default 10m): how long one
	// attempt at setup may wait for its peers before setup starts over from
	// greeting them, with what it stored kept.
	SetupTimeout time.Duration
	// SetupWait is the parsed Timeouts.SetupWait: how long the node keeps
	// trying to complete setup before it gives up and stops with an error
	// (Run returns it). Zero, the default, keeps trying until the node is
	// stopped.
	SetupWait time.Duration
	// RetryMax is the parsed Timeouts.Retry (default 5s): the longest pause
	// between two attempts to reach a peer, in setup and in the peer check.
	RetryMax time.Duration
	// MatchTimeout is the parsed Timeouts.Match (default 30m): the deadline
	// of one private matching session.
	MatchTimeout time.Duration
	// ShutdownTimeout is the parsed Timeouts.Shutdown (default 10s): how
	// long a stopping node lets calls in flight finish before it cancels
	// them and stops anyway.
	ShutdownTimeout time.Duration
	// MaxOpenQueries is the parsed Limits.OpenQueries (default 4).
	MaxOpenQueries int
	// MaxQueryMemory is the parsed Limits.QueryMemory in bytes (default
	// 4GiB): the estimated memory of the joint queries evaluated at once.
	MaxQueryMemory int64
	// HealthListen is the parsed Health.Listen: the address of a listener
	// that serves the standard gRPC health service alone, in plaintext, for
	// probes; empty (the default) for none. An address without a host
	// listens on loopback.
	HealthListen string
	// PeerCheck is the parsed Health.PeerCheck (default 10s): how often the
	// node greets its peers to report NOT_SERVING while one is unreachable.
	PeerCheck time.Duration

	file string
	body hcl.Body
}

// PeerConfig names another node of the federation.
type PeerConfig struct {
	// Name is the peer's node name (the block label).
	Name string `hcl:"name,label"`
	// Address is the peer's gRPC address ("host:port").
	Address string `hcl:"address,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// The privacy budget of a querier whose block leaves it out (or sets 0):
// ten queries at ε = 1, and a hundred at a query file's default δ of 1e-7
// (queryfile.DefaultDelta) before δ runs out, so that ε, not δ, limits a
// querier who asks at ε ≥ 0.1. docs/configuration.md states the numbers.
const (
	DefaultQuerierEpsilon = 10
	DefaultQuerierDelta   = 1e-5
)

// QuerierConfig allows one querier identity and gives it a privacy budget.
type QuerierConfig struct {
	// Name is the querier's certificate name (the block label).
	Name string `hcl:"name,label"`
	// Epsilon is the querier's total ε budget at this node (default
	// DefaultQuerierEpsilon).
	Epsilon float64 `hcl:"epsilon,optional"`
	// Delta is the querier's total δ budget at this node (default
	// DefaultQuerierDelta).
	Delta float64 `hcl:"delta,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// PolicyConfig is a data owner's governance policy.
type PolicyConfig struct {
	// Purposes a query may state (default ["research"]). A purpose that is
	// not listed, such as underwriting, is refused.
	Purposes []string `hcl:"purposes,optional"`
	// Exclude names columns and transactions categories that never leave
	// the node in any form: they are not read from the source, no other
	// column may read them under another name, and no query may use them.
	// Every name must be something the source reads (see
	// source.Config.Exclude); a node with a source refuses to start on an
	// unknown one.
	Exclude []string `hcl:"exclude,optional"`
	// ConsentColumn names the source's consent flag; records without consent
	// are dropped before matching (default "consent").
	ConsentColumn string `hcl:"consent_column,optional"`
	// MinGroupSize is k: a cell is released only when its noisy count is at
	// least k (default 10).
	MinGroupSize int `hcl:"min_group_size,optional"`
	// AllowExact permits noise-free queries, for validation only.
	AllowExact bool `hcl:"allow_exact,optional"`
	// OwnerEpsilon is the ε the data owner itself may spend on its data
	// over the node's lifetime, in the ledger's OwnerAccount: estimating
	// a column's automatic bounds is charged to it (default
	// DefaultOwnerEpsilon).
	OwnerEpsilon float64 `hcl:"owner_epsilon,optional"`
	// Rules restrict, per purpose, the roles a query may give this
	// owner's columns by their tags (rules.go).
	Rules []PurposeRule `hcl:"rule,block"`
	// Consent maps a purpose to a consent column of its own (consent.go);
	// the purposes it leaves out use ConsentColumn.
	Consent *ConsentConfig `hcl:"consent,block"`
	// ConsentColumns is Consent as read: purpose → consent column.
	ConsentColumns map[string]string

	// Segmenting lists the purposes that segment people (underwriting,
	// pricing, marketing): for them the node refuses to release a result
	// whose grouping column's association with a protected column exceeds
	// ProxyThreshold (default DefaultProxyThreshold; proxy.go).
	Segmenting     []string `hcl:"segmenting,optional"`
	ProxyThreshold float64  `hcl:"proxy_threshold,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// TimeoutsConfig holds durations as strings such as "30s" or "10m".
type TimeoutsConfig struct {
	RPC       string `hcl:"rpc,optional"`
	Setup     string `hcl:"setup,optional"`
	SetupWait string `hcl:"setup_wait,optional"`
	Retry     string `hcl:"retry,optional"`
	Match     string `hcl:"match,optional"`
	Shutdown  string `hcl:"shutdown,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// DefaultConfig returns a configuration with every optional field at its
// default; Name, Federation, Listen, DataDir and Peers must still be set.
func DefaultConfig() Config {
	return Config{Preset: crypto.PresetCoef13, RPCTimeout: 30 * time.Second, SetupTimeout: 10 * time.Minute, MatchTimeout: 30 * time.Minute,
		ShutdownTimeout: 10 * time.Second, RetryMax: 5 * time.Second, PeerCheck: 10 * time.Second, MaxOpenQueries: defaultOpenQueries, MaxQueryMemory: defaultQueryMemory}
}

// LoadConfig reads and validates an HCL configuration file. Errors name the
// file, the line and the field.
func LoadConfig(path string) (Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return ParseConfig(path, src)
}

// ParseConfig parses and validates configuration source; filename is used in
// error messages.
func ParseConfig(filename string, src []byte) (Config, error) {
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, hcldiag.Format(diags))
	}
	cfg := DefaultConfig()
	cfg.Preset = ""
	if diags := gohcl.DecodeBody(f.Body, nil, &cfg); diags.HasErrors() {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, hcldiag.Format(diags))
	}
	cfg.file, cfg.body = filename, f.Body
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// Validate fills defaults and checks every field, naming the file, line and
// field of the first problem it finds.
func (c *Config) Validate() error {
	d := DefaultConfig()
	c.Preset = cmp.Or(c.Preset, d.Preset)
	c.RPCTimeout = cmp.Or(c.RPCTimeout, d.RPCTimeout)
	c.SetupTimeout = cmp.Or(c.SetupTimeout, d.SetupTimeout)
	c.MatchTimeout = cmp.Or(c.MatchTimeout, d.MatchTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, d.ShutdownTimeout)
	c.RetryMax = cmp.Or(c.RetryMax, d.RetryMax)
	c.PeerCheck = cmp.Or(c.PeerCheck, d.PeerCheck)
	if err := c.validateLimits(); err != nil {
		return err
	}
	if err := c.validateJoinKeys(); err != nil {
		return err
	}
	if !namePattern.MatchString(c.Name) {
		return c.errorf(c.body, "name", "%q is not a valid node name (1-63 letters, digits, '-' or '_')", c.Name)
	}
	if !namePattern.MatchString(c.Federation) {
		return c.errorf(c.body, "federation", "%q is not a valid federation name (1-63 letters, digits, '-' or '_')", c.Federation)
	}
	if err := checkHostPort(c.Listen, true); err != nil {
		return c.errorf(c.body, "listen", "%v", err)
	}
	if c.DataDir == "" {
		return c.errorf(c.body, "data_dir", "must be set")
	}
	p, err := crypto.LookupPreset(c.Preset)
	if err != nil {
		return c.errorf(c.body, "preset", "%v", err)
	}
	if p.Insecure && !c.AllowInsecurePreset {
		return c.errorf(c.body, "preset", "%q is insecure and only for tests; set allow_insecure_preset = true to use it", c.Preset)
	}
	if t := c.Timeouts; t != nil {
		for _, d := range []struct {
			field, value, example string
			dst                   *time.Duration
		}{
			{"rpc", t.RPC, "30s", &c.RPCTimeout},
			{"setup", t.Setup, "10m", &c.SetupTimeout},
			{"setup_wait", t.SetupWait, "2h", &c.SetupWait},
			{"retry", t.Retry, "5s", &c.RetryMax},
			{"match", t.Match, "30m", &c.MatchTimeout},
			{"shutdown", t.Shutdown, "10s", &c.ShutdownTimeout},
		} {
			if err := c.parseDuration(t.Body, d.field, d.value, d.example, d.dst); err != nil {
				return err
			}
		}
	}
	if c.SetupWait < 0 || c.RetryMax < 0 || c.PeerCheck < 0 {
		return c.errorf(c.body, "timeouts", "durations must be positive")
	}
	if err := c.validateHealth(); err != nil {
		return err
	}
	seen := map[string]bool{c.Name: true}
	for _, peer := range c.Peers {
		if !namePattern.MatchString(peer.Name) {
			return c.errorf(peer.Body, "", "peer %q: not a valid node name", peer.Name)
		}
		if seen[peer.Name] {
			if peer.Name == c.Name {
				return c.errorf(peer.Body, "", "peer %q has this node's own name", peer.Name)
			}
			return c.errorf(peer.Body, "", "peer %q is declared twice", peer.Name)
		}
		seen[peer.Name] = true
		if peer.Address == "" {
			return c.errorf(peer.Body, "address", "peer %q: must be set (host:port)", peer.Name)
		}
		if err := checkHostPort(peer.Address, false); err != nil {
			return c.errorf(peer.Body, "address", "peer %q: %v", peer.Name, err)
		}
	}
	if len(c.Peers) == 0 {
		return c.errorf(c.body, "peer", "at least one peer block is needed: a federation has two or more data owners")
	}
	if c.Policy == nil {
		c.Policy = &PolicyConfig{}
	}
	if len(c.Policy.Purposes) == 0 {
		c.Policy.Purposes = []string{"research"}
	}
	if c.Policy.ConsentColumn == "" {
		c.Policy.ConsentColumn = "consent"
	}
	if c.Policy.MinGroupSize == 0 {
		c.Policy.MinGroupSize = 10
	}
	if c.Policy.OwnerEpsilon == 0 {
		c.Policy.OwnerEpsilon = DefaultOwnerEpsilon
	}
	if !(c.Policy.OwnerEpsilon > 0 && c.Policy.OwnerEpsilon <= ledger.MaxEpsilon) {
		return c.errorf(c.Policy.Body, "owner_epsilon", "the owner's ε budget must lie in (0, %g] (0 or left out means the default, %g), not %g", float64(ledger.MaxEpsilon), float64(DefaultOwnerEpsilon), c.Policy.OwnerEpsilon)
	}
	if c.Policy.MinGroupSize < 1 {
		return c.errorf(c.Policy.Body, "min_group_size", "must be at least 1, not %d", c.Policy.MinGroupSize)
	}
	for _, p := range c.Policy.Purposes {
		if p == "" || len(p) > 64 {
			return c.errorf(c.Policy.Body, "purposes", "%q is not a purpose name", p)
		}
	}
	if err := c.validateRules(); err != nil {
		return err
	}
	if err := c.validateProxy(); err != nil {
		return err
	}
	if err := c.validateConsent(); err != nil {
		return err
	}
	if c.Source != nil {
		if err := c.applyPolicyToSource(); err != nil {
			return err
		}
	}
	queriers := map[string]bool{}
	for i := range c.Queriers {
		q := &c.Queriers[i]
		if !namePattern.MatchString(q.Name) {
			return c.errorf(q.Body, "", "querier %q: not a valid identity name", q.Name)
		}
		if queriers[q.Name] {
			return c.errorf(q.Body, "", "querier %q is declared twice", q.Name)
		}
		queriers[q.Name] = true
		if q.Epsilon < 0 || q.Epsilon > ledger.MaxEpsilon {
			return c.errorf(q.Body, "epsilon", "querier %q: the ε budget must lie in [0, %g] (0 means the default, %g), not %g", q.Name, float64(ledger.MaxEpsilon), float64(DefaultQuerierEpsilon), q.Epsilon)
		}
		if q.Delta < 0 || q.Delta >= 1 {
			return c.errorf(q.Body, "delta", "querier %q: the δ budget must lie in [0, 1) (0 means the default, %g), not %g", q.Name, DefaultQuerierDelta, q.Delta)
		}
		if q.Epsilon == 0 {
			q.Epsilon = DefaultQuerierEpsilon
		}
		if q.Delta == 0 {
			q.Delta = DefaultQuerierDelta
		}
	}
	if c.TLSDir != "" {
		if c.InsecureLoopback {
			return c.errorf(c.body, "insecure_loopback", "set either tls_dir or insecure_loopback, not both")
		}
		return nil
	}
	if c.InsecureLoopback {
		if !isLoopback(c.Listen) {
			return c.errorf(c.body, "listen", "insecure_loopback is only allowed on a loopback address, not %q", c.Listen)
		}
		for _, peer := range c.Peers {
			if !isLoopback(peer.Address) {
				return c.errorf(peer.Body, "address", "insecure_loopback is only allowed with loopback peers, not %q", peer.Address)
			}
		}
	} else {
		return c.errorf(c.body, "tls_dir", "no transport security: set tls_dir to the node's certificate directory (jointly ca issue), or insecure_loopback = true for loopback-only development")
	}
	return nil
}

// parseDuration sets *dst to the duration value, if it is set; anything
// but a positive duration is an error naming the field.
func (c *Config) parseDuration(body hcl.Body, field, value, example string, dst *time.Duration) error {
	if value == "" {
		return nil
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return c.errorf(body, field, "%q is not a positive duration such as %q", value, example)
	}
	*dst = d
	return nil
}

// applyPolicyToSource makes the source honour the policy: excluded columns
// are removed from what the source reads, nothing excluded can be read
// under another name, and the consent column is the policy's. An excluded
// name the source does not read is an error naming what it reads.
func (c *Config) applyPolicyToSource() error {
	src := c.Source
	pol := c.Policy
	switch {
	case src.ConsentColumn == "":
		src.ConsentColumn = pol.ConsentColumn
	case src.ConsentColumn != pol.ConsentColumn:
		return c.blockErrorf("source", "consent_column: the source reads %q but the policy names %q", src.ConsentColumn, pol.ConsentColumn)
	}
	if err := src.Validate(); err != nil {
		return c.sourceError(err)
	}
	if err := src.Exclude(pol.Exclude); err != nil {
		var xe *source.ExcludeError
		if errors.As(err, &xe) {
			return c.errorf(pol.Body, "exclude", "%s", xe.Reason)
		}
		return c.blockErrorf("source", "%v", err)
	}
	return nil
}

// sourceError is a configuration error of the source block, at the line
// of the column block it names, if any, else of the source block.
func (c *Config) sourceError(err error) error {
	var ce *source.ConfigError
	sb, ok := c.body.(*hclsyntax.Body)
	if !errors.As(err, &ce) || !ok {
		return c.blockErrorf("source", "%v", err)
	}
	// Field is source.KIND.column.NAME[.…]; names hold no dots.
	parts := strings.Split(ce.Field, ".")
	if len(parts) < 4 || parts[2] != "column" {
		return c.blockErrorf("source", "%v", err)
	}
	for _, b := range sb.Blocks {
		if b.Type != "source" {
			continue
		}
		for _, col := range b.Body.Blocks {
			if col.Type == "column" && len(col.Labels) == 1 && col.Labels[0] == parts[3] {
				return fmt.Errorf("%w: %s:%d: source: %v", ErrConfig, cmp.Or(c.file, "config"), col.TypeRange.Start.Line, err)
			}
		}
		break
	}
	return c.blockErrorf("source", "%v", err)
}

// blockErrorf names the line of the first block of the given type.
func (c *Config) blockErrorf(blockType, format string, args ...any) error {
	where := c.file
	if where == "" {
		where = "config"
	}
	if sb, ok := c.body.(*hclsyntax.Body); ok {
		for _, b := range sb.Blocks {
			if b.Type == blockType {
				where = fmt.Sprintf("%s:%d", where, b.TypeRange.Start.Line)
				break
			}
		}
	}
	return fmt.Errorf("%w: %s: %s: %s", ErrConfig, where, blockType, fmt.Sprintf(format, args...))
}

// Owners returns the names of every data owner, this node included, sorted.
func (c *Config) Owners() []string {
	names := []string{c.Name}
	for _, p := range c.Peers {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// peerAddress returns the configured address of a peer.
func (c *Config) peerAddress(name string) (string, bool) {
	for _, p := range c.Peers {
		if p.Name == name {
			return p.Address, true
		}
	}
	return "", false
}

// errorf builds a configuration error naming file, line and field. The line
// is the attribute's line when it is present, else the enclosing block's.
func (c *Config) errorf(body hcl.Body, field, format string, args ...any) error {
	where := c.file
	if where == "" {
		where = "config"
	}
	if sb, ok := body.(*hclsyntax.Body); ok {
		line := sb.SrcRange.Start.Line // a block body starts at its brace, on the block's line
		if a, ok := sb.Attributes[field]; ok && field != "" {
			line = a.SrcRange.Start.Line
		}
		where = fmt.Sprintf("%s:%d", where, line)
	}
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		return fmt.Errorf("%w: %s: %s: %s", ErrConfig, where, field, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrConfig, where, msg)
}

// checkHostPort checks a "host:port" address; listener allows port 0 (any
// free port). Without it a port that is empty or out of range would pass
// here and fail only when the node listens or dials, a dial doing so again
// and again in setup's retries.
func checkHostPort(addr string, listener bool) error {
	if addr == "" {
		return errors.New("must be set (host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if err := checkPort(addr, port, listener); err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q has no host (use 127.0.0.1:%s for loopback or 0.0.0.0:%s for every interface)", addr, port, port)
	}
	return nil
}

// checkPort checks the port of addr: a number from 1 to 65535, or 0 for
// a listener.
func checkPort(addr, port string, listener bool) error {
	lo, ports := 1, "a port from 1 to 65535"
	if listener {
		lo, ports = 0, "a port from 1 to 65535 (or 0 for any free port)"
	}
	if port == "" {
		return fmt.Errorf("%q has no port after the colon: write host:port with %s", addr, ports)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || int(p) < lo {
		return fmt.Errorf("%q: port %q is not %s", addr, port, ports)
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
