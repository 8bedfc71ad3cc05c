package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/cluster"
)

func TestConfigureRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	two := []string{"a", "b"}
	for _, tc := range []struct {
		name string
		o    cluster.Options
		want string
	}{
		{"no dir", cluster.Options{Names: two}, "Dir"},
		{"one node", cluster.Options{Dir: dir, Names: []string{"a"}}, "two or more"},
		{"too many datasets", cluster.Options{Dir: dir, Names: two, Datasets: make([]party.Dataset, 3)}, "3 datasets for 2 nodes"},
		{"too few listeners", cluster.Options{Dir: dir, Names: two, Listeners: make([]net.Listener, 1)}, "1 listeners for 2 nodes"},
		{"unknown preset", cluster.Options{Dir: dir, Names: two, Preset: "coef99"}, "coef99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cluster.Configure(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if c != nil {
				t.Fatal("a cluster returned with the error")
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	names := []string{"retailer", "insurer", "bank"}
	c, err := cluster.Configure(cluster.Options{Dir: dir, Names: names, Federation: "f", Preset: crypto.PresetTest, Epsilon: 3, Delta: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.PKIDir != filepath.Join(dir, "pki") {
		t.Fatalf("PKIDir %q", c.PKIDir)
	}
	for _, id := range append([]string{cluster.Querier}, names...) {
		if _, err := os.Stat(filepath.Join(c.PKIDir, id, id+".crt")); err != nil {
			t.Fatalf("identity %s: %v", id, err)
		}
	}
	for i := range c.Configs {
		cfg := c.Configs[i]
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Name != names[i] || cfg.DataDir != filepath.Join(dir, names[i]) || cfg.TLSDir != filepath.Join(c.PKIDir, names[i]) || !cfg.AllowInsecurePreset {
			t.Fatalf("config %d: %+v", i, cfg)
		}
		if len(cfg.Peers) != 2 || len(cfg.Queriers) != 1 || cfg.Queriers[0].Epsilon != 3 || cfg.Queriers[0].Delta != 1e-6 {
			t.Fatalf("config %d: peers %v, queriers %v", i, cfg.Peers, cfg.Queriers)
		}
		for _, p := range cfg.Peers {
			if p.Name == cfg.Name || p.Address != c.Configs[indexOf(names, p.Name)].Listen {
				t.Fatalf("config %d: peer %v", i, p)
			}
		}
	}
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// TestStartStopRestart runs a federation of two nodes, queries it, restarts
// one node on its keys and queries again, over mutual TLS and plaintext.
func TestStartStopRestart(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		t.Run(fmt.Sprintf("insecure=%v", insecure), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// n0 and n1 have 40 customers in common.
			ds := []party.Dataset{table(0, 60, "x"), table(20, 90, "y")}
			c, err := cluster.Configure(cluster.Options{Dir: t.TempDir(), Names: []string{"n0", "n1"}, Federation: "f", Preset: crypto.PresetTest,
				Insecure: insecure, Epsilon: 1, Delta: 1e-6, Datasets: ds})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if insecure != (c.PKIDir == "") {
				t.Fatalf("PKIDir %q for insecure=%v", c.PKIDir, insecure)
			}
			for i := range c.Configs {
				c.Configs[i].Policy = &party.PolicyConfig{AllowExact: true}
				if err := c.StartNode(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.WaitSetup(ctx); err != nil {
				t.Fatal(err)
			}
			query := func() {
				t.Helper()
				client, err := c.Dial(1, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				res, err := client.Joint(ctx, party.JointRequest{
					X:            []aggregate.ColumnRef{{Owner: "n1", Name: "y"}},
					Y:            []aggregate.ColumnRef{{Owner: "n0", Name: "x"}},
					Correlations: true, Purpose: "research", Exact: true, Querier: cluster.Querier,
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, cell := range res.Cells {
					if cell.Statistic == aggregate.CellCount && cell.Value != 40 {
						t.Fatalf("%d customers in common, want 40", int(cell.Value))
					}
				}
			}
			query()
			if err := c.StopNode(0); err != nil {
				t.Fatal(err)
			}
			if err := c.StartNode(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitSetup(ctx); err != nil {
				t.Fatal(err)
			}
			query()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestListeners: the nodes serve on the listeners they are given, and
// Close releases those no node took.
func TestListeners(t *testing.T) {
	var ls []net.Listener
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	c, err := cluster.Configure(cluster.Options{Dir: t.TempDir(), Names: []string{"n0", "n1"}, Federation: "f", Preset: crypto.PresetTest, Listeners: ls})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, l := range ls {
		if c.Configs[i].Listen != l.Addr().String() {
			t.Fatalf("node %d listens on %s, not on its listener %s", i, c.Configs[i].Listen, l.Addr())
		}
	}
	if err := c.StartNode(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if c.Nodes[0].Addr() != ls[0].Addr().String() {
		t.Fatalf("node 0 serves on %s", c.Nodes[0].Addr())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("listener %d after Close: %v", i, err)
		}
	}
}

func TestStopNodeNeverStarted(t *testing.T) {
	c, err := cluster.Configure(cluster.Options{Dir: t.TempDir(), Names: []string{"n0", "n1"}, Federation: "f", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StopNode(1); err == nil {
		t.Fatal("stopped a node that never started")
	}
	if err := c.StartNode(context.Background(), 2); err == nil {
		t.Fatal("started node 2 of 2")
	}
}

// table is a dataset of the customers from..to-1 with one column.
func table(from, to int, column string) *party.Table {
	t := &party.Table{Values: map[string][]float64{column: nil}, Bounds: map[string][2]float64{column: {0, 100}}}
	for k := from; k < to; k++ {
		t.Keys = append(t.Keys, fmt.Appendf(nil, "customer%03d@example.org", k))
		t.Values[column] = append(t.Values[column], float64(k%50))
	}
	return t
}
