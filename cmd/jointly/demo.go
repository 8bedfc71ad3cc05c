package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/pki"
)

type demoOptions struct {
	customers int
	seed      uint64
	out       string
	preset    string
}

func newDemoCmd(logger func() hclog.Logger) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run two nodes on loopback and answer a query across them",
		Long: `Run a self-contained demonstration: a retailer node and an insurer node on
loopback in this process, each with its own synthetic data. The nodes run the
multiparty key generation, then a querier asks for the total number of
customers on file at both organizations and how many of them consented to
research use. Each node encrypts its own count under the collective key, one
node adds the ciphertexts, both release key-switch shares to the querier's
one-time key, and only the querier decrypts. The demo prints the answer next
to the plaintext computed directly from the data as a check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), logger(), o)
		},
	}
	cmd.Flags().IntVar(&o.customers, "customers", 50000, "customers per organization")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of the synthetic data")
	cmd.Flags().StringVar(&o.out, "out", "", "keep the node data dirs in this directory (default: a temporary directory, removed afterwards)")
	cmd.Flags().StringVar(&o.preset, "preset", crypto.PresetCoef13, "HE parameter preset")
	return cmd
}

// demoData draws per-customer consent flags (about 92% consent) for one
// organization.
func demoData(customers int, seed uint64, org uint64) party.MemoryDataset {
	rng := rand.New(rand.NewPCG(seed, org))
	consent := make([]float64, customers)
	for i := range consent {
		if rng.Float64() >= 0.08 {
			consent[i] = 1
		}
	}
	return party.MemoryDataset{"consent": consent}
}

func runDemo(ctx context.Context, w io.Writer, logger hclog.Logger, o demoOptions) error {
	if o.customers < 1 {
		return errors.New("demo: --customers must be at least 1")
	}
	dir := o.out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "jointly-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	names := []string{"insurer", "retailer"}
	var lis []net.Listener
	for range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		lis = append(lis, l)
	}
	preset, err := crypto.LookupPreset(o.preset)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Jointly demo: %d customers per organization, preset %s (%s)\n\n", o.customers, preset.Name, preset.Note)

	// A throwaway federation CA: every node and the querier authenticate
	// with mutual TLS, as in a real deployment.
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.InitCA(filepath.Join(pkiDir, "ca")); err != nil {
		return err
	}
	for _, name := range names {
		if err := pki.Issue(filepath.Join(pkiDir, "ca"), name, pki.RoleNode, nil, filepath.Join(pkiDir, name)); err != nil {
			return err
		}
	}
	const querier = "researcher"
	if err := pki.Issue(filepath.Join(pkiDir, "ca"), querier, pki.RoleQuerier, nil, filepath.Join(pkiDir, querier)); err != nil {
		return err
	}

	var nodes []*party.Node
	var data []party.MemoryDataset
	for i, name := range names {
		cfg := party.DefaultConfig()
		cfg.Name, cfg.Federation, cfg.Listen = name, "demo", lis[i].Addr().String()
		cfg.DataDir = filepath.Join(dir, name)
		cfg.Preset, cfg.AllowInsecurePreset = o.preset, preset.Insecure
		cfg.TLSDir = filepath.Join(pkiDir, name)
		cfg.Queriers = []party.QuerierConfig{{Name: querier, Epsilon: 10, Delta: 1e-6}}
		// The demo validates against plaintext, so it allows exact queries.
		cfg.Policy = &party.PolicyConfig{AllowExact: true}
		for j, peer := range names {
			if j != i {
				cfg.Peers = append(cfg.Peers, party.PeerConfig{Name: peer, Address: lis[j].Addr().String()})
			}
		}
		d := demoData(o.customers, o.seed, uint64(i))
		data = append(data, d)
		n, err := party.New(cfg, logger, party.WithListener(lis[i]), party.WithDataset(d))
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		defer n.Close()
		nodes = append(nodes, n)
	}

	start := time.Now()
	fmt.Fprintf(w, "0. throwaway federation CA: certificates for %s, %s and the querier %q (mutual TLS)\n\n", names[0], names[1], querier)
	fmt.Fprintf(w, "1. federation setup: collective public key, relinearization key and Galois keys ...\n")
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		g.Go(func() error { return n.WaitSetup(gctx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(w, "   done in %s; no node holds the secret key\n\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	fmt.Fprintf(w, "2. querier asks %s for the customers on file and the consenting ones, across both organizations ...\n", nodes[1].Name())
	client, err := party.DialTLS(nodes[1].Addr(), filepath.Join(pkiDir, querier), querier, nodes[1].Name(), 5*time.Minute)
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := client.LocalSums(ctx, party.LocalSumsRequest{Column: "consent", Purpose: "research", Exact: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   answered in %s, decrypted by the querier alone\n\n", time.Since(start).Round(time.Millisecond))

	var wantCount int64
	var wantSum float64
	for _, d := range data {
		c, s, _ := d.LocalSum(ctx, "consent")
		wantCount += c
		wantSum += s
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statistic\tencrypted result\tplaintext check\tmatch\t")
	fmt.Fprintf(tw, "customers on file\t%.0f\t%d\t%v\t\n", res.Count, wantCount, res.Count == float64(wantCount))
	fmt.Fprintf(tw, "consenting customers\t%.0f\t%.0f\t%v\t\n", res.Sum, wantSum, res.Sum == wantSum)
	tw.Flush()
	if res.Count != float64(wantCount) || res.Sum != wantSum {
		return errors.New("demo: the encrypted result differs from the plaintext check")
	}
	fmt.Fprintf(w, "\nThe encrypted result equals the plaintext answer.\n")
	return nil
}
