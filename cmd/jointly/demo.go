package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/cluster"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/queryfile"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

type demoOptions struct {
	customers int
	seed      uint64
	out       string
	preset    string
	epsilon   float64
	exact     bool
	format    string
	insurers  int
	// match is the rule the nodes match on (synth.MatchEmail,
	// MatchPhone or MatchEmailOrPhone: join_keys e-mail then phone).
	match string
}

// demoMarker marks a directory the demo created, so that it may clear it.
const demoMarker = ".jointly-demo"

// demoDelta is the δ of the demo's query: a query file's default.
const demoDelta = queryfile.DefaultDelta

// demoQueryFile is the demo's question as a query file, in --out.
const demoQueryFile = "query.hcl"

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
  5. match the two customer bases privately on the e-mail, then on the
     phone (--match), and compare the size of the common, consenting
     customer base with the truth (the world's identifiers are noisy, as
     jointly gen's are by default: the e-mail alone finds about 85 % of the
     shared consenting customers, e-mail or phone about 97 %);
  6. ask the accuracy planner, free of charge, how precise the answer will
     be, then answer the question "how does spend per purchase category relate to
     claims?": the correlation of every category with every claim type, the
     claim rate per year by spend group for the planted effects and the
     diabetes claim rate by age band (by level name), computed on
     encrypted data over the common customers, with differential-privacy
     noise (or exactly, with --exact), and readable by the querier alone;
     print them next to the effects planted in the synthetic world and the
     planner's prediction;
  7. show that a query for underwriting is refused, the privacy budget spent
     and left, and verify both audit logs and write the transparency reports.

With --insurers 2 the insurer's policyholders are split between two insurer
nodes (north and south): three owners, one collective key, and the query
pools both insurers into one answer over all their common customers with
the retailer.

Everything is kept in --out (default ./demo-out, cleared first): the
question as a query file, query.hcl, the result as result.json and as an
HTML report, result.html, and each node's transparency report as
NAME-transparency.html and NAME-transparency.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), logger(), o)
		},
	}
	cmd.Flags().IntVar(&o.customers, "customers", 50000, "customers per organization")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of the synthetic world")
	cmd.Flags().StringVar(&o.out, "out", "demo-out", "directory for the world, the node data dirs and the reports (cleared first if a previous demo made it)")
	cmd.Flags().StringVar(&o.preset, "preset", crypto.PresetCoef13, "HE parameter preset")
	cmd.Flags().Float64Var(&o.epsilon, "epsilon", 8, "privacy cost ε of the query at each data owner (δ = 1e-7); the querier's budget is ε = 10, δ = 1e-5")
	cmd.Flags().BoolVar(&o.exact, "exact", false, "exact mode: no differential-privacy noise (validation)")
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table or json (the JSON result is always written to --out/result.json)")
	cmd.Flags().IntVar(&o.insurers, "insurers", 1, "insurer nodes: 1, or 2 to split the policyholders between two insurers and pool them")
	cmd.Flags().StringVar(&o.match, "match", synth.MatchEmailOrPhone, "what the nodes match customers on: email, phone, or email_or_phone (join_keys e-mail, then phone)")
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
		return usageErrorf("demo: --customers must be at least 10")
	}
	if !o.exact {
		if err := dp.CheckBudget(o.epsilon, demoDelta); err != nil {
			return usageErrorf("demo: --epsilon: %w", err)
		}
	}
	if o.format != "table" && o.format != "json" {
		return usageErrorf("demo: --format must be table or json, not %q", o.format)
	}
	if o.insurers == 0 {
		o.insurers = 1
	}
	if o.insurers != 1 && o.insurers != 2 {
		return usageErrorf("demo: --insurers must be 1 or 2, not %d", o.insurers)
	}
	o.match = cmp.Or(o.match, synth.MatchEmailOrPhone)
	if o.match != synth.MatchEmail && o.match != synth.MatchPhone && o.match != synth.MatchEmailOrPhone {
		return usageErrorf("demo: --match must be email, phone or email_or_phone, not %q", o.match)
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
	truth, err := synth.Generate(ctx, synth.Options{Dir: worldDir, Customers: o.customers, Overlap: 0.5, Seed: o.seed, Format: synth.FormatCSV,
		Noise: synth.DefaultNoise(), StatisticsOver: o.match})
	if err != nil {
		return err
	}
	names, yOwner := []string{"retailer", "insurer"}, "insurer"
	if o.insurers == 2 {
		names, yOwner = []string{"retailer", "insurer_north", "insurer_south"}, "insurers"
		if err := splitCSV(filepath.Join(worldDir, "insurer.csv"), filepath.Join(worldDir, names[1]+".csv"), filepath.Join(worldDir, names[2]+".csv")); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "1. synthetic world in %s (%s): %d shared customers, %d of them consenting on both sides;\n",
		worldDir, time.Since(start).Round(time.Millisecond), truth.Shared, truth.N)
	fmt.Fprintf(w, "   %.0f %% of the insurer's records hold another e-mail address, %.0f %% of each side's have no phone\n",
		100*truth.Noise.ChangedEmail, 100*truth.Noise.MissingPhone)
	if o.insurers == 2 {
		fmt.Fprintf(w, "   the insurer's policyholders split between %s and %s (alternate records)\n", names[1], names[2])
	}

	// 2. Identities, and 3. nodes on loopback, each reading its own data
	// through its source and policy.
	var lis []net.Listener
	for range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lis {
				l.Close()
			}
			return fmt.Errorf("demo: %w", err)
		}
		lis = append(lis, l)
	}
	c, err := cluster.Configure(cluster.Options{
		Dir: o.out, Names: names, Federation: "demo", Preset: o.preset,
		Epsilon: party.DefaultQuerierEpsilon, Delta: party.DefaultQuerierDelta, Listeners: lis, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(w, "2. federation CA and mutual-TLS certificates for %s and the querier %q\n", strings.Join(names, ", "), cluster.Querier)

	model := synth.DefaultModel()
	cfgs := c.Configs
	for i, name := range names {
		cfg := &cfgs[i]
		// Sensitive columns never leave the node; the demo validates against
		// plaintext, so it allows exact queries.
		cfg.Policy = &party.PolicyConfig{Purposes: []string{"research"}, AllowExact: true}
		if name == "retailer" {
			s := synth.RetailerSource(worldDir, synth.FormatCSV, false, model)
			cfg.Source = &s
			cfg.Policy.Exclude = []string{"spend_pharmacy", "spend_prophylactics"}
		} else {
			s := synth.InsurerSource(worldDir, synth.FormatCSV, model)
			s.Path = filepath.Join(worldDir, name+".csv")
			cfg.Source = &s
			cfg.Policy.Exclude = []string{"claims_hiv_related"}
		}
		cfg.JoinKey, cfg.JoinKeys = "", synth.MatchKinds(o.match)
		if name != "retailer" && len(cfg.JoinKeys) > 1 {
			// A health insurer's customer list is the more sensitive:
			// its node, not the retailer's, learns the match graph.
			cfg.MatchGraph = party.MatchGraphSelf
		}
		tightenBounds(cfg.Source)
		if err := c.StartNode(ctx, i); err != nil {
			return err
		}
	}
	nodes := c.Nodes
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	insurerWord := "the insurer"
	if o.insurers > 1 {
		insurerWord = "each insurer"
	}
	fmt.Fprintf(w, "3. nodes started on %s; excluded by policy: %v at the retailer, %v at %s;\n   spend declared up to 4× each category's median and claims up to 4 a year, larger values clipped\n   (every result says what share of each column its bounds clipped)\n",
		strings.Join(addrs, ", "), cfgs[0].Policy.Exclude, cfgs[1].Policy.Exclude, insurerWord)

	// 4. Setup.
	start = time.Now()
	if err := c.WaitSetup(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "4. collective key generated in %s: public key, relinearization key, Galois keys\n", time.Since(start).Round(time.Millisecond))

	// 5. Private matching, of the retailer with each insurer.
	start = time.Now()
	var common int
	var lines []string
	insurersComputed := true // every pairing computed by the insurer (party A)
	for k := 1; k < len(nodes); k++ {
		info, _, err := nodes[0].Match(ctx, names[k])
		if err != nil {
			return err
		}
		peerInfo, _, err := nodes[k].Layout(ctx, names[0])
		if err != nil {
			return err
		}
		insurersComputed = insurersComputed && info.Role == "B"
		c := info.Records + peerInfo.Records - info.UnionSize
		common += c
		who := ""
		if len(nodes) > 2 {
			who = " (" + names[k] + ")"
		}
		lines = append(lines, fmt.Sprintf("%d and %d consenting records%s, union of %d, so %d in common", info.Records, peerInfo.Records, who, info.UnionSize, c))
	}
	want := truth.StatisticsN()
	on := map[string]string{synth.MatchEmail: "the e-mail", synth.MatchPhone: "the phone", synth.MatchEmailOrPhone: "the e-mail, then the phone"}[o.match]
	if len(lines) == 1 {
		fmt.Fprintf(w, "5. private matching on %s in %s: %s (truth: %d) %s\n", on, time.Since(start).Round(time.Millisecond), lines[0], want, mark(common == want))
	} else {
		fmt.Fprintf(w, "5. private matching on %s in %s:\n", on, time.Since(start).Round(time.Millisecond))
		for _, l := range lines {
			fmt.Fprintf(w, "   %s\n", l)
		}
		fmt.Fprintf(w, "   %d in common with the insurers together (truth: %d) %s\n", common, want, mark(common == want))
	}
	if len(synth.MatchKinds(o.match)) > 1 && insurersComputed {
		fmt.Fprintf(w, "   %s computed the pairing (match_graph = \"self\") and alone learned how many pairs agreed on which identifier\n", insurerWord)
	}
	fmt.Fprintf(w, "   of the %d shared customers consenting on both sides, the e-mail alone finds %d (%s), the phone alone %d (%s), e-mail or phone %d (%s)\n\n",
		truth.N, truth.Email, share(truth.Email, truth.N), truth.Phone, share(truth.Phone, truth.N), truth.EmailOrPhone, share(truth.EmailOrPhone, truth.N))
	if common != want {
		return errors.New("demo: the matched customer base differs from the truth")
	}

	// 6. The question.
	client, err := c.Dial(0, 30*time.Minute)
	if err != nil {
		return err
	}
	defer client.Close()
	req := demoQuery(cfgs[0], cfgs[1], yOwner, truth)
	if o.insurers == 2 {
		req.Pool = &party.Pool{Name: yOwner, Owners: names[1:]}
	}
	req.Exact, req.Epsilon, req.Delta = o.exact, o.epsilon, demoDelta
	if o.exact {
		req.Epsilon, req.Delta = 0, 0
	}
	planOut := w
	if o.format == "json" {
		planOut = io.Discard
	}
	plan, err := demoPlan(ctx, planOut, client, cfgs, req, common)
	if err != nil {
		return err
	}
	start = time.Now()
	joint, err := client.Joint(ctx, req)
	if err != nil {
		return err
	}
	// The question as a researcher would have written it, kept beside the
	// result and shown in the report.
	question := queryfile.Format(req)
	if err := os.WriteFile(filepath.Join(o.out, demoQueryFile), question, 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res := &queryResult{JointResult: joint, Query: string(question), File: demoQueryFile, Received: time.Now().UTC()}
	res.Predicted = plan // made before the query: it goes into result.json beside the realised cells
	over := "the common customers"
	if o.insurers == 2 {
		over = "the common customers of both insurers, pooled"
	}
	fmt.Fprintf(w, "   joint query: %d spend categories × %d claim types and %d rate tables over %s,\n   encrypted, evaluated and key-switched to the querier in %s\n\n",
		len(req.CorrelationX), len(req.CorrelationY), len(req.Rates), over, time.Since(start).Round(time.Millisecond))
	for _, f := range []string{"json", "html"} {
		if err := writeResultFile(filepath.Join(o.out, "result."+f), f, res); err != nil {
			return err
		}
	}
	if o.format == "json" {
		if err := writeResult(w, "json", res); err != nil {
			return err
		}
	} else {
		printPlanted(w, joint, truth, names[0], yOwner, plan)
	}

	refused := "no"
	under := req
	under.Purpose = "underwriting"
	if _, err := client.Joint(ctx, under); err != nil {
		refused = "yes: " + err.Error()
	}
	fmt.Fprintf(w, "\n   a query for underwriting refused: %s\n", refused)

	// 7. Budget and transparency.
	fmt.Fprintf(w, "\n7. privacy budget of %q and transparency reports:\n", cluster.Querier)
	width := 0
	for _, name := range names {
		width = max(width, len(name))
	}
	for i, cfg := range cfgs {
		accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
		if err != nil {
			return err
		}
		for _, a := range accounts {
			fmt.Fprintf(w, "   %-*s spent ε %.3g of %.3g and δ %.3g of %.3g; %.3g and %.3g left (%d charges)\n", width, names[i],
				a.Spent.Epsilon, a.Budget.Epsilon, a.Spent.Delta, a.Budget.Delta, a.Remaining.Epsilon, a.Remaining.Delta, a.Charges)
		}
		report := filepath.Join(o.out, names[i]+"-transparency.html")
		if err := writeReport(cfg, report); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-*s audit log verified; report: %s (and .json)\n", width, names[i], report)
	}
	return nil
}

// tightenBounds declares the bounds a careful data owner would: the
// generator's caps are safe but loose (25 times a category's median spend,
// 50 claims a year), and the differential-privacy noise of every statistic
// grows with the declared range. Spend is clipped at 4 times the model's
// median (about its 99th percentile) and claim counts at 4 a year (above
// the 99.5th percentile of every claim type); the nodes log how many values
// were clipped.
func tightenBounds(src *source.Config) {
	for i := range src.Columns {
		c := &src.Columns[i]
		if c.Hi == nil {
			continue
		}
		hi := *c.Hi
		switch {
		case strings.HasPrefix(c.Name, "spend_"):
			hi = math.Max(50, math.Ceil(hi/25*4/50)*50)
		case strings.HasPrefix(c.Name, "claims_"):
			hi = 4
		}
		c.Hi = &hi
	}
}

// demoQuery asks for the correlation of every retailer category with every
// insurer claim type (of the insurer's columns, owned by yOwner: the
// insurer or the pool of insurers), for each planted effect the claim
// rate per spend group (cut at the world's spend quartiles), the
// diabetes claim rate by age band, the insurer's categorical column,
// grouped by level, and diabetes claims on diet-aid spend adjusted for the
// age band.
func demoQuery(retailer, insurer party.Config, yOwner string, truth *synth.Truth) party.JointRequest {
	req := party.JointRequest{Correlations: true, Purpose: "research"}
	for _, c := range retailer.Source.Columns {
		req.X = append(req.X, aggregate.ColumnRef{Owner: retailer.Name, Name: c.Name})
	}
	for _, c := range insurer.Source.Columns {
		if strings.HasPrefix(c.Name, "claims_") {
			req.Y = append(req.Y, aggregate.ColumnRef{Owner: yOwner, Name: c.Name})
		}
	}
	req.CorrelationX, req.CorrelationY = slices.Clone(req.X), slices.Clone(req.Y)
	exposure := aggregate.ColumnRef{Owner: yOwner, Name: "exposure_months"}
	req.Y = append(req.Y, exposure)
	for _, q := range truth.Quartiles {
		by := aggregate.ColumnRef{Owner: retailer.Name, Name: "spend_" + q.Category}
		events := aggregate.ColumnRef{Owner: yOwner, Name: "claims_" + q.Claim}
		if !slices.Contains(req.X, by) || !slices.Contains(req.Y, events) {
			continue // excluded by a policy
		}
		var edges []float64
		for _, cut := range q.Cuts {
			if cut > 0 && (len(edges) == 0 || cut > edges[len(edges)-1]) {
				edges = append(edges, math.Round(cut*100)/100)
			}
		}
		if len(edges) > 0 {
			req.Rates = append(req.Rates, aggregate.RateRequest{Events: events, Exposure: exposure, By: by, Edges: edges})
		}
	}
	band, diabetes := aggregate.ColumnRef{Owner: yOwner, Name: "age_band"}, aggregate.ColumnRef{Owner: yOwner, Name: "claims_diabetes"}
	if slices.Contains(req.Y, diabetes) {
		req.Y = append(req.Y, band)
		req.Rates = append(req.Rates, aggregate.RateRequest{Events: diabetes, Exposure: exposure, By: band})
		// Diabetes claims on diet-aid spend, adjusted for the insurer's
		// own age band.
		if diet := (aggregate.ColumnRef{Owner: retailer.Name, Name: "spend_diet_aids"}); slices.Contains(req.X, diet) {
			req.Regressions = append(req.Regressions, aggregate.RegressionRequest{Outcome: diabetes, Predictors: []aggregate.ColumnRef{diet, band}})
		}
	}
	return req
}

// short drops the owner from "owner.column".
func short(ref string) string {
	if _, name, ok := strings.Cut(ref, "."); ok {
		return name
	}
	return ref
}

// writeResultFile writes the result in format to path atomically: a
// temporary file renamed into place once complete.
func writeResultFile(path, format string, res *queryResult) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeResult(f, format, res); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// writeReport verifies a node's audit log with its certificate and writes
// its transparency report, with the queriers' budgets from cfg, as out
// (HTML) and beside it as JSON.
func writeReport(cfg party.Config, out string) error {
	cert, err := pki.LoadCertificate(filepath.Join(cfg.TLSDir, cfg.Name+".crt"))
	if err != nil {
		return err
	}
	if _, err := verifyAuditLog(cfg.AuditPath(), cert.PublicKey.(ed25519.PublicKey), nil); err != nil {
		return fmt.Errorf("demo: %s audit log: %w", cfg.Name, err)
	}
	budgets := map[string]audit.Budget{}
	for q, b := range cfg.Budgets() {
		budgets[q] = audit.Budget{Epsilon: b.Epsilon, Delta: b.Delta}
	}
	t, err := readTransparency(cfg.AuditPath(), budgets)
	if err != nil {
		return err
	}
	_, err = writeTransparencyFiles(t, "html", out)
	return err
}

// splitCSV writes the data rows of src alternately to a and b, each with
// src's header: two organizations with no record in common.
func splitCSV(src, a, b string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	header, rows, ok := strings.Cut(string(data), "\n")
	if !ok {
		return fmt.Errorf("demo: %s has no records", src)
	}
	var out [2]strings.Builder
	for k := range out {
		out[k].WriteString(header + "\n")
	}
	k := 0
	for line := range strings.Lines(rows) {
		out[k].WriteString(line)
		k = 1 - k
	}
	for i, dst := range []string{a, b} {
		if err := os.WriteFile(dst, []byte(out[i].String()), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}
