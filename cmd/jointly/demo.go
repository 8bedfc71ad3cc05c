package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
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
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/synth"
)

type demoOptions struct {
	customers int
	seed      uint64
	out       string
	preset    string
	epsilon   float64
}

// demoMarker marks a directory the demo created, so that it may clear it.
const demoMarker = ".jointly-demo"

func newDemoCmd(logger func() hclog.Logger) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a retailer and an insurer node on loopback over a synthetic world",
		Long: `Run a self-contained demonstration in this process:

  1. generate a synthetic retailer × insurer world (jointly gen) with a known truth;
  2. create a throwaway federation CA and mutual-TLS identities;
  3. start a retailer node and an insurer node on loopback, each reading its
     own data through its source configuration and policy;
  4. run the multiparty key generation (no node holds the secret key);
  5. match the two customer bases privately and compare the size of the
     common, consenting customer base with the truth;
  6. answer a query across both nodes, encrypted under the collective key and
     key-switched to the querier alone: once exact (validation, allowed by
     the demo's policy) and once with differential-privacy noise, charged to
     the querier's budget;
  7. verify both nodes' audit logs and write their transparency reports.

Everything is kept in --out (default ./demo-out, cleared first).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), logger(), o)
		},
	}
	cmd.Flags().IntVar(&o.customers, "customers", 50000, "customers per organization")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of the synthetic world")
	cmd.Flags().StringVar(&o.out, "out", "demo-out", "directory for the world, the node data dirs and the reports (cleared first if a previous demo made it)")
	cmd.Flags().StringVar(&o.preset, "preset", crypto.PresetCoef13, "HE parameter preset")
	cmd.Flags().Float64Var(&o.epsilon, "epsilon", 0.5, "privacy cost of the noisy query")
	return cmd
}

// prepareOut creates dir, clearing it when a previous demo made it.
func prepareOut(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("demo: %s exists and was not made by the demo; choose another --out", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("demo: clearing %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o644)
}

func runDemo(ctx context.Context, w io.Writer, logger hclog.Logger, o demoOptions) error {
	if o.customers < 10 {
		return errors.New("demo: --customers must be at least 10")
	}
	if !(o.epsilon > 0) {
		return errors.New("demo: --epsilon must be positive")
	}
	preset, err := crypto.LookupPreset(o.preset)
	if err != nil {
		return err
	}
	if err := prepareOut(o.out); err != nil {
		return err
	}
	fmt.Fprintf(w, "Jointly demo: %d customers per organization, preset %s\n\n", o.customers, preset.Name)

	// 1. The world.
	start := time.Now()
	worldDir := filepath.Join(o.out, "world")
	truth, err := synth.Generate(ctx, synth.Options{Dir: worldDir, Customers: o.customers, Overlap: 0.5, Seed: o.seed, Format: synth.FormatCSV})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "1. synthetic world in %s (%s): %d shared customers, %d of them consenting on both sides\n",
		worldDir, time.Since(start).Round(time.Millisecond), truth.Shared, truth.N)

	// 2. Identities.
	const querier = "researcher"
	names := []string{"retailer", "insurer"}
	pkiDir := filepath.Join(o.out, "pki")
	caDir := filepath.Join(pkiDir, "ca")
	if err := pki.InitCA(caDir); err != nil {
		return err
	}
	for _, name := range names {
		if err := pki.Issue(caDir, name, pki.RoleNode, nil, filepath.Join(pkiDir, name)); err != nil {
			return err
		}
	}
	if err := pki.Issue(caDir, querier, pki.RoleQuerier, nil, filepath.Join(pkiDir, querier)); err != nil {
		return err
	}
	fmt.Fprintf(w, "2. federation CA and mutual-TLS certificates for %s, %s and the querier %q\n", names[0], names[1], querier)

	// 3. Nodes, each reading its own data through its source and policy.
	var lis []net.Listener
	for range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		lis = append(lis, l)
	}
	model := synth.DefaultModel()
	var nodes []*party.Node
	var cfgs []party.Config
	for i, name := range names {
		cfg := party.DefaultConfig()
		cfg.Name, cfg.Federation, cfg.Listen = name, "demo", lis[i].Addr().String()
		cfg.DataDir = filepath.Join(o.out, name)
		cfg.Preset, cfg.AllowInsecurePreset = o.preset, preset.Insecure
		cfg.TLSDir = filepath.Join(pkiDir, name)
		cfg.Queriers = []party.QuerierConfig{{Name: querier, Epsilon: 10, Delta: 1e-6}}
		// Sensitive columns never leave the node; the demo validates against
		// plaintext, so it allows exact queries.
		cfg.Policy = &party.PolicyConfig{Purposes: []string{"research"}, AllowExact: true}
		if name == "retailer" {
			s := synth.RetailerSource(worldDir, synth.FormatCSV, false, model)
			cfg.Source = &s
			cfg.Policy.Exclude = []string{"spend_pharmacy", "spend_prophylactics"}
		} else {
			s := synth.InsurerSource(worldDir, synth.FormatCSV, model)
			cfg.Source = &s
			cfg.Policy.Exclude = []string{"claims_hiv_related"}
		}
		for j, peer := range names {
			if j != i {
				cfg.Peers = append(cfg.Peers, party.PeerConfig{Name: peer, Address: lis[j].Addr().String()})
			}
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		n, err := party.New(cfg, logger, party.WithListener(lis[i]))
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		defer n.Close()
		nodes = append(nodes, n)
		cfgs = append(cfgs, cfg)
	}
	fmt.Fprintf(w, "3. nodes started on %s and %s; excluded by policy: %v at the retailer, %v at the insurer\n",
		nodes[0].Addr(), nodes[1].Addr(), cfgs[0].Policy.Exclude, cfgs[1].Policy.Exclude)

	// 4. Setup.
	start = time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		g.Go(func() error { return n.WaitSetup(gctx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(w, "4. collective key generated in %s: public key, relinearization key, Galois keys\n", time.Since(start).Round(time.Millisecond))

	// 5. Private matching.
	start = time.Now()
	info, _, err := nodes[0].Match(ctx, names[1])
	if err != nil {
		return err
	}
	peerInfo, _, err := nodes[1].Layout(ctx, names[0])
	if err != nil {
		return err
	}
	common := info.Records + peerInfo.Records - info.UnionSize
	fmt.Fprintf(w, "5. private matching in %s: %d and %d consenting records, union of %d, so %d in common (truth: %d) %s\n\n",
		time.Since(start).Round(time.Millisecond), info.Records, peerInfo.Records, info.UnionSize, common, truth.N, mark(common == truth.N))
	if common != truth.N {
		return errors.New("demo: the matched customer base differs from the truth")
	}

	// 6. Queries.
	client, err := party.DialTLS(nodes[0].Addr(), filepath.Join(pkiDir, querier), querier, names[0], 5*time.Minute)
	if err != nil {
		return err
	}
	defer client.Close()
	start = time.Now()
	exact, err := client.LocalSums(ctx, party.LocalSumsRequest{Purpose: "research", Exact: true})
	if err != nil {
		return err
	}
	tExact := time.Since(start)
	noisy, err := client.LocalSums(ctx, party.LocalSumsRequest{Purpose: "research", Epsilon: o.epsilon, Delta: 1e-9})
	if err != nil {
		return err
	}
	refused := "no"
	if _, err := client.LocalSums(ctx, party.LocalSumsRequest{Purpose: "underwriting", Epsilon: o.epsilon}); err != nil {
		refused = "yes: " + err.Error()
	}
	want := info.Records + peerInfo.Records
	fmt.Fprintf(w, "6. consenting customers on file at both organizations, each count encrypted, added under encryption\n   and key-switched to the querier (%s per query):\n\n", tExact.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   query\tresult\tnoise std\tplaintext\tε charged")
	fmt.Fprintf(tw, "   exact (validation)\t%.0f\t0\t%d %s\t0\n", exact.Count, want, mark(exact.Count == float64(want)))
	fmt.Fprintf(tw, "   differentially private\t%.0f\t%.2f\t%d\t%g\n", noisy.Count, noisy.CountStd, want, noisy.Epsilon)
	tw.Flush()
	fmt.Fprintf(w, "\n   a query for underwriting refused: %s\n", refused)
	if exact.Count != float64(want) {
		return errors.New("demo: the encrypted result differs from the plaintext check")
	}

	// 7. Budget and transparency.
	fmt.Fprintf(w, "\n7. privacy budget of %q and transparency reports:\n", querier)
	for i, cfg := range cfgs {
		accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
		if err != nil {
			return err
		}
		for _, a := range accounts {
			fmt.Fprintf(w, "   %-8s spent ε %.3g of %.3g, %.3g left (%d charges)\n", names[i], a.Spent.Epsilon, a.Budget.Epsilon, a.Remaining.Epsilon, a.Charges)
		}
		report := filepath.Join(o.out, names[i]+"-transparency.html")
		if err := writeReport(cfg, report); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-8s audit log verified; report: %s\n", names[i], report)
	}
	return nil
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// writeReport verifies a node's audit log with its certificate and renders
// the transparency report.
func writeReport(cfg party.Config, out string) error {
	cert, err := pki.LoadCertificate(filepath.Join(cfg.TLSDir, cfg.Name+".crt"))
	if err != nil {
		return err
	}
	f, err := os.Open(cfg.AuditPath())
	if err != nil {
		return err
	}
	defer f.Close()
	if err := audit.Verify(f, cert.PublicKey.(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("demo: %s audit log: %w", cfg.Name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := audit.Report(f, w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
