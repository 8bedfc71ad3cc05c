package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/queryfile"
	"github.com/jointly-dev/jointly/party/source"
)

// newValidateCmd is `jointly validate`: a node configuration or a query
// file checked without starting or sending anything.
func newValidateCmd() *cobra.Command {
	var configPath, queryPath string
	cmd := &cobra.Command{
		Use:   "validate --config NODE.hcl | --query QUERY.hcl",
		Short: "Check a node configuration or a query file without starting or sending anything",
		Long: `Check a node's configuration or a researcher's query file, print a summary
starting with "ok:" when it is sound, and otherwise the first problem with its
file and line; nothing is started, listened on or sent.

--config checks what "jointly node" checks before it starts, and reads the
data as the node would: the configuration's syntax and fields, the policy's
exclusions, that data_dir is a directory the node can write in or create
(nothing is created), the TLS identity in tls_dir, and the source, that its
file or database is there, holds every declared column, and that its values
parse.
It warns of values outside a column's declared bounds (the node clips them)
and of consenting records without the identifier to match on.

--query checks a query file's syntax and its rules, as far as they can be
checked without the node: whether the node has the columns it names is
checked when it is sent (jointly query), or here with --config too, which
checks the query as sent to that node.

The exit code is 0 when everything checked is sound, 3 otherwise (see
jointly --help).`,
		Example: `  jointly validate --config node.hcl
  jointly validate --query question.hcl
  jointly validate --config retailer.hcl --query question.hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" && queryPath == "" {
				return usageErrorf("validate: give --config, --query or both")
			}
			ctx := commandContext(cmd)
			out := cmd.OutOrStdout()
			var target *queryfile.Target
			if configPath != "" {
				cfg, err := validateConfig(ctx, out, configPath)
				if err != nil {
					return err
				}
				if cfg.Source != nil {
					cols, levels := make([]string, len(cfg.Source.Columns)), map[string][]string{}
					for i, c := range cfg.Source.Columns {
						cols[i] = c.Name
						if c.Type == source.TypeCategorical {
							levels[c.Name] = c.Levels
						}
					}
					target = &queryfile.Target{Node: cfg.Name, Owners: cfg.Owners(), Columns: cols, Levels: levels}
				}
			}
			if queryPath != "" {
				return validateQuery(out, queryPath, target)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "a node's HCL configuration")
	cmd.Flags().StringVar(&queryPath, "query", "", "a query file (HCL, or HCL's JSON syntax for a name ending in .json)")
	bindEnv(cmd.Flags(), "config", envConfig)
	return cmd
}

// validateConfig loads and checks the configuration at path as a node
// would before it starts, reads its source, and prints what it found.
func validateConfig(ctx context.Context, w io.Writer, path string) (party.Config, error) {
	cfg, err := party.LoadConfig(path)
	if err != nil {
		return party.Config{}, err
	}
	if err := cfg.CheckDirs(); err != nil {
		return party.Config{}, err
	}
	var certNote string
	transport := "plaintext on loopback"
	if cfg.TLSDir != "" {
		// CheckDirs loaded the node's TLS identity as the node would.
		cert, err := pki.CheckCertificate(cfg.TLSDir, cfg.Name)
		if err != nil {
			return party.Config{}, inputErrorf("%s: tls_dir: %w", path, err)
		}
		until := cert.NotAfter.UTC().Format(time.DateOnly)
		transport = "mutual TLS as node/" + cfg.Name + ", certificate valid until " + until
		if left := time.Until(cert.NotAfter); left < party.CertificateWarning {
			certPath := pki.CertificatePath(cfg.TLSDir, cfg.Name)
			certNote = fmt.Sprintf("warning: %s expires on %s (%s): renew it with jointly ca renew --ca CA_DIR --cert %s; a running node takes the renewed certificate up without a restart\n",
				certPath, until, party.TimeLeft(left), certPath)
		}
	}
	var peers, queriers []string
	for _, p := range cfg.Peers {
		peers = append(peers, p.Name)
	}
	for _, q := range cfg.Queriers {
		queriers = append(queriers, fmt.Sprintf("%s (ε %g, δ %g)", q.Name, q.Epsilon, q.Delta))
	}
	fmt.Fprintf(w, "ok: %s: node %s of federation %s (preset %s, %s); peers %s; queriers %s\n",
		path, cfg.Name, cfg.Federation, cfg.Preset, transport, strings.Join(peers, ", "), orNone(queriers))
	fmt.Fprint(w, certNote)
	if err := validateLedger(w, &cfg); err != nil {
		return party.Config{}, err
	}
	pol := cfg.Policy
	exact := "refused"
	if pol.AllowExact {
		exact = "allowed"
	}
	fmt.Fprintf(w, "ok: policy: purposes %s; excluded %s; min_group_size %d; exact queries %s\n",
		strings.Join(pol.Purposes, ", "), orNone(pol.Exclude), pol.MinGroupSize, exact)
	for _, r := range pol.Rules {
		fmt.Fprintf(w, "ok: rule %s\n", r.Describe())
	}
	if kinds := cfg.JoinKinds(); len(kinds) > 1 {
		a := "the node that starts it (match_graph = \"either\")"
		if cfg.MatchGraph == party.MatchGraphSelf {
			a = "this node, whoever starts it (match_graph = \"self\")"
		}
		fmt.Fprintf(w, "ok: matching on %s in this order; party A, which learns the match graph: %s\n", strings.Join(kinds, ", "), a)
	}
	if cfg.Source == nil {
		fmt.Fprintf(w, "warning: %s has no source block: the node will offer no data\n", path)
		return cfg, nil
	}
	if err := validateSource(ctx, w, &cfg); err != nil {
		return party.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// validateSource reads the whole source as the node does and prints what
// it holds and what the node would have to repair.
func validateSource(ctx context.Context, w io.Writer, cfg *party.Config) error {
	src := *cfg.Source
	kinds := cfg.JoinKinds()
	for _, k := range kinds {
		if _, err := ident.ParseKind(k); err != nil {
			return err
		}
	}
	join := strings.Join(kinds, " or ")
	matchable := 0
	stats, err := source.Scan(ctx, src, party.SourceOptions(), func(r *source.Row) error {
		has := false
		for _, k := range kinds {
			has = has || r.Identifier(source.IDKind(k)) != ""
		}
		if r.Consent && has {
			matchable++
		}
		return nil
	})
	if err != nil {
		return err
	}
	var cols, notes []string
	for _, c := range src.Columns {
		switch {
		case c.Type == source.TypeCategorical:
			cols = append(cols, fmt.Sprintf("%s (%d levels)", c.Name, len(c.Levels)))
		case c.AutoBounds != nil:
			lo, hi, ok, err := cfg.StoredBounds(c)
			if err != nil {
				return err
			}
			if ok {
				cols = append(cols, fmt.Sprintf("%s [%g, %g]", c.Name, lo, hi))
				notes = append(notes, fmt.Sprintf("ok: %s: bounds estimated before (auto_bounds, ε %g); the node reuses them", c.Name, c.AutoBounds.Epsilon))
				notes = append(notes, tooWideNote(c, lo, hi, "an estimate this high comes from few records: declare hi, or a coarser step")...)
				continue
			}
			floor, what := "auto", "its bounds"
			if c.Lo != nil {
				floor, what = fmt.Sprint(*c.Lo), "its hi"
			}
			cols = append(cols, fmt.Sprintf("%s [%s, auto]", c.Name, floor))
			notes = append(notes, fmt.Sprintf("note: %s: the node estimates %s when it starts (auto_bounds), charging ε %g to the owner's budget (policy.owner_epsilon = %g)",
				c.Name, what, c.AutoBounds.Epsilon, cfg.Policy.OwnerEpsilon))
			if wanted := party.AutoBoundsRecordsWanted(c); matchable < wanted {
				notes = append(notes, fmt.Sprintf("warning: %s: %d records are few for auto_bounds at ε %g and quantile %g, which want about %d: the estimate may land far beyond the data; declare %s, or raise auto_bounds.epsilon",
					c.Name, matchable, c.AutoBounds.Epsilon, c.AutoBounds.Quantile, wanted, what))
			}
		default:
			cols = append(cols, fmt.Sprintf("%s [%g, %g]", c.Name, *c.Lo, *c.Hi))
			notes = append(notes, tooWideNote(c, *c.Lo, *c.Hi, "declare a smaller hi or a coarser step if it is to be one")...)
		}
	}
	fmt.Fprintf(w, "ok: source %s %s: %d records, %d consenting, %d of them with the %s to match on; columns %s\n",
		src.Kind, src.Describe(), stats.Rows, stats.Consenting, matchable, join, orNone(cols))
	if err := validateConsentSets(ctx, w, cfg); err != nil {
		return err
	}
	for _, note := range notes {
		fmt.Fprintln(w, note)
	}
	for _, c := range src.Columns {
		if c.Lo == nil || c.Hi == nil {
			continue // estimated bounds: the node counts what lies outside when it knows them
		}
		if n := stats.Clipped[c.Name]; n > 0 {
			fmt.Fprintf(w, "warning: %s: %d of %d values (%.1f %%) lie outside [%g, %g]; the node clips them to the bounds\n",
				c.Name, n, stats.Rows, 100*float64(n)/float64(max(stats.Rows, 1)), *c.Lo, *c.Hi)
		}
	}
	if n := stats.Consenting - matchable; n > 0 {
		fmt.Fprintf(w, "warning: %d consenting records have no usable %s and cannot be matched\n", n, join)
	}
	for _, k := range slices.Sorted(maps.Keys(stats.Invalid)) {
		fmt.Fprintf(w, "warning: %d records have an invalid %s\n", stats.Invalid[k], k)
	}
	return nil
}

// tooWideNote warns of a column whose bounds make too many encoded values
// for a query this node evaluates to square (party.TooWideToSquare).
func tooWideNote(c source.Column, lo, hi float64, fix string) []string {
	steps := party.TooWideToSquare(c, lo, hi)
	if steps == 0 {
		return nil
	}
	return []string{fmt.Sprintf("warning: %s: [%g, %g] in steps of %g make %d encoded values, more than the %d a query this node evaluates can square: "+
		"the column cannot be the x of a correlation or a regression here (it can still be a y, or serve where no square is needed); %s",
		c.Name, lo, hi, *c.Step, steps, aggregate.MaxSquared, fix)}
}

// validateQuery checks the query file at path, against target's node when
// there is one, and prints what it asks.
func validateQuery(w io.Writer, path string, target *queryfile.Target) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return inputErrorf("validate: %w", err)
	}
	req, t, err := queryfile.Check(path, src)
	if err != nil {
		return err
	}
	scope := "checked on its own: whether " + t.Node + " has these columns is checked when the query is sent, or with --config"
	if target != nil {
		t = *target
		if req, err = queryfile.Parse(path, src, t); err != nil {
			return err
		}
		scope = "checked against " + t.Node + "'s configuration"
	}
	var asks []string
	if req.Correlations {
		asks = append(asks, "correlations")
		if req.CorrelationBy != (aggregate.ColumnRef{}) {
			asks[0] += " within each group of " + req.CorrelationBy.String()
		}
	}
	for _, k := range []struct {
		n    int
		what string
	}{{len(req.Rates), "rate table"}, {len(req.Regressions), "regression"}, {len(req.Contingencies), "contingency table"}} {
		switch {
		case k.n == 1:
			asks = append(asks, "1 "+k.what)
		case k.n > 1:
			asks = append(asks, fmt.Sprintf("%d %ss", k.n, k.what))
		}
	}
	with := req.Y[0].Owner
	if req.Pool != nil {
		with = fmt.Sprintf("the pool %s (%s)", req.Pool.Name, strings.Join(req.Pool.Owners, ", "))
	}
	cost := fmt.Sprintf("ε = %g, δ = %g", req.Epsilon, req.Delta)
	if req.Exact {
		cost = "exact (no noise; every owner must allow it)"
	}
	fmt.Fprintf(w, "ok: %s: a query to %s with %s for %q: %s over %d x and %d y columns; %s (%s)\n",
		path, t.Node, with, req.Purpose, strings.Join(asks, ", "), len(req.X), len(req.Y), cost, scope)
	return nil
}

// validateLedger warns of every querier whose budget, as configured now,
// what the node's ledger has charged it already leaves nothing of: the
// node refuses its queries. Nothing is written; a node that never ran has
// no ledger yet.
func validateLedger(w io.Writer, cfg *party.Config) error {
	if err := cfg.CheckLedger(); err != nil {
		return err
	}
	if err := cfg.CheckWitness(); err != nil {
		return err
	}
	accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.LedgerBudgets())
	if err != nil {
		return inputErrorf("%s: %w", cfg.LedgerPath(), err)
	}
	for _, a := range accounts {
		if a.Charges == 0 || a.Querier == party.OwnerAccount {
			continue
		}
		if status := accountStatus(a); status != "ok" {
			fmt.Fprintf(w, "warning: querier %s: %s: the ledger in data_dir has charged ε %g and δ %g of its budget ε %g and δ %g; the node refuses its queries until the budget is raised\n",
				a.Querier, status, a.Spent.Epsilon, a.Spent.Delta, a.Budget.Epsilon, a.Budget.Delta)
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// validateConsentSets prints, for a policy with consent per purpose, how
// many records each purpose may use, read as the node reads them.
func validateConsentSets(ctx context.Context, w io.Writer, cfg *party.Config) error {
	if len(cfg.Policy.ConsentColumns) == 0 {
		return nil
	}
	t, err := party.LoadTable(ctx, cfg, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	var parts []string
	for _, p := range cfg.Policy.Purposes {
		set := cfg.Policy.ConsentSet(p)
		v, err := t.View(set)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("%s %d (%s)", p, v.Records(), cmp.Or(set, cfg.Policy.ConsentColumn)))
	}
	fmt.Fprintf(w, "ok: consent per purpose: records each purpose may use (consent column): %s\n", strings.Join(parts, ", "))
	return nil
}
