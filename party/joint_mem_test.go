package party

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestJointQueryInMemory runs a federation's setup, private matching and
// an exact joint query end to end over the in-memory transport: no
// listener, no socket, every handler and protocol step as over gRPC. The
// correlation equals the plaintext join's.
func TestJointQueryInMemory(t *testing.T) {
	const records = 400
	retailer := &Table{Values: map[string][]float64{"spend": nil}, Bounds: map[string][2]float64{"spend": {0, 100}}}
	insurer := &Table{Values: map[string][]float64{"claims": nil}, Bounds: map[string][2]float64{"claims": {0, 10}}}
	joined := map[string]float64{}
	for k := range records {
		spend := float64((k*37)%100) + 0.5
		retailer.Keys = append(retailer.Keys, fmt.Appendf(nil, "customer%04d@example.org", k))
		retailer.Values["spend"] = append(retailer.Values["spend"], spend)
		if k%3 != 0 { // two thirds of the retailer's customers are insured
			joined[fmt.Sprint(k)] = spend
		}
	}
	var n, sx, sy, sxx, syy, sxy float64
	for k := range records + 100 {
		if k < records && k%3 == 0 {
			continue
		}
		claims := float64((k * 7) % 5)
		insurer.Keys = append(insurer.Keys, fmt.Appendf(nil, "customer%04d@example.org", k))
		insurer.Values["claims"] = append(insurer.Values["claims"], claims)
		if x, ok := joined[fmt.Sprint(k)]; ok {
			n, sx, sy, sxx, syy, sxy = n+1, sx+x, sy+claims, sxx+x*x, syy+claims*claims, sxy+x*claims
		}
	}
	want := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed := startMemFederation(ctx, t, map[string]*Table{"retailer": retailer, "insurer": insurer}, nil, 0)

	// The querier's side: its request, the evaluator's run, and the
	// result decrypted with the one-time key.
	q, err := newMemQuerier(fed.nodes["retailer"].params)
	if err != nil {
		t.Fatal(err)
	}
	spec := jointRequestToProto(JointRequest{
		X:            []aggregate.ColumnRef{{Owner: "retailer", Name: "spend"}},
		Y:            []aggregate.ColumnRef{{Owner: "insurer", Name: "claims"}},
		Correlations: true, Purpose: "research", Exact: true, Querier: "researcher",
	}, "memory-query-0001", q.pk)
	res, err := q.run(ctx, fed.nodes["retailer"], spec)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range res.Cells {
		if c.Statistic == aggregate.CellPearson {
			found = true
			if math.Abs(c.Value-want) > 1e-6 {
				t.Fatalf("Pearson r %v, plaintext join %v", c.Value, want)
			}
		}
		if c.Statistic == aggregate.CellCount && c.Value != n {
			t.Fatalf("count %v, plaintext join %v", c.Value, n)
		}
	}
	if !found {
		t.Fatalf("no Pearson r among %d cells", len(res.Cells))
	}
}

// startMemFederation starts a federation of two nodes over the in-memory
// transport, one per table, and waits for its setup; wrap, if set, stands
// between a node and its transport, and matchTimeout, if set, replaces
// the default.
func startMemFederation(ctx context.Context, t *testing.T, tables map[string]*Table, wrap func(transport) transport, matchTimeout time.Duration) *memFederation {
	t.Helper()
	fed := &memFederation{nodes: map[string]*Node{}}
	names := slices.Sorted(maps.Keys(tables))
	dir := t.TempDir()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	for k, name := range names {
		cfg := DefaultConfig()
		cfg.Name, cfg.Federation, cfg.Listen = name, "memfed", "127.0.0.1:1" // never listened on
		cfg.DataDir = filepath.Join(dir, name)
		cfg.Preset, cfg.AllowInsecurePreset, cfg.InsecureLoopback = crypto.PresetTest, true, true
		cfg.Queriers = []QuerierConfig{{Name: "researcher", Epsilon: 10, Delta: 1e-5}}
		cfg.Policy = &PolicyConfig{AllowExact: true, Purposes: []string{"research"}}
		cfg.MatchTimeout = cmp.Or(matchTimeout, cfg.MatchTimeout)
		peer := names[1-k]
		cfg.Peers = []PeerConfig{{Name: peer, Address: "127.0.0.1:1"}} // never dialled
		var tr transport = fed.transport(name)
		if wrap != nil {
			tr = wrap(tr)
		}
		node, err := New(cfg, logger, WithDataset(tables[name]), withOffline(tr))
		if err != nil {
			t.Fatal(err)
		}
		fed.nodes[name] = node
	}
	for _, name := range names {
		node := fed.nodes[name]
		if err := node.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
	}
	for _, name := range names {
		if err := fed.nodes[name].WaitSetup(ctx); err != nil {
			t.Fatalf("setup of %s: %v", name, err)
		}
	}
	return fed
}

// deferringTransport answers every matching as a peer whose own session
// with the node never ends would: MATCH_CROSSED.
type deferringTransport struct{ transport }

func (deferringTransport) Match(_ context.Context, peer string) (matchConn, error) {
	return deferringConn{peer: peer}, nil
}

type deferringConn struct{ peer string }

func (deferringConn) Send(*pb.MatchFrame) error { return nil }
func (c deferringConn) Recv() (*pb.MatchFrame, error) {
	return nil, fromStatus(c.peer, "match", toStatus(fmt.Errorf("%w: always", ErrMatchCrossed)))
}
func (deferringConn) CloseSend() error { return nil }
func (deferringConn) Close()           {}

// TestPeerThatKeepsDeferring: a peer that answers every matching with
// MATCH_CROSSED holds a node's layout for no longer than the matching
// timeout, and the error says so.
func TestPeerThatKeepsDeferring(t *testing.T) {
	mk := func(n int) *Table {
		tb := &Table{Values: map[string][]float64{"v": nil}, Bounds: map[string][2]float64{"v": {0, 1}}}
		for k := range n {
			tb.Keys = append(tb.Keys, fmt.Appendf(nil, "customer%04d@example.org", k))
			tb.Values["v"] = append(tb.Values["v"], 0)
		}
		return tb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed := startMemFederation(ctx, t, map[string]*Table{"a": mk(20), "b": mk(30)}, func(tr transport) transport { return deferringTransport{tr} }, 5*time.Second)
	start := time.Now()
	_, _, err := fed.nodes["a"].Layout(ctx, "b")
	if !errors.Is(err, ErrMatchCrossed) || !strings.Contains(err.Error(), "matching timeout") {
		t.Fatalf("Layout with a peer that always defers: %v, want a crossed-sessions error naming the matching timeout", err)
	}
	if d := time.Since(start); d < 5*time.Second || d > 30*time.Second {
		t.Fatalf("gave up after %v, want about the matching timeout (5s)", d)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
