package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/queryfile"
)

// budgetLeftText is the querier's budget left at each owner of r, ε and
// δ: "retailer ε 9, δ 9.9e-06; insurer ε 9, δ 9.9e-06".
func budgetLeftText(r *party.JointResult) string {
	var left []string
	for _, o := range r.Owners {
		if b, ok := r.BudgetLeft[o]; ok {
			left = append(left, fmt.Sprintf("%s ε %.4g, δ %.3g", o, b.Epsilon, b.Delta))
		}
	}
	return strings.Join(left, "; ")
}

// nextQueryText says what runs out, and where, if another query of r's
// cost would not fit in what is left: "another query at ε = 1, δ = 1e-07
// would be refused: δ runs out at insurer". Empty when it would fit
// everywhere, and after an exact query.
func nextQueryText(r *party.JointResult) string {
	if r.Exact {
		return ""
	}
	var out []string
	where := map[string][]string{}
	for _, o := range r.Owners {
		b, ok := r.BudgetLeft[o]
		if !ok {
			continue
		}
		if what := b.Exhausted(r.Epsilon, r.Delta); what != "" {
			if where[what] == nil {
				out = append(out, what)
			}
			where[what] = append(where[what], o)
		}
	}
	if len(out) == 0 {
		return ""
	}
	for i, what := range out {
		out[i] = what + " at " + strings.Join(where[what], " and ")
	}
	return fmt.Sprintf("another query at ε = %g, δ = %g would be refused: %s", r.Epsilon, r.Delta, strings.Join(out, "; "))
}

// accountStatus says whether a querier can still ask anything: "ok", or
// what is spent, where ε is spent when less is left than the smallest ε a
// query may ask (dp.MinEpsilon) and δ when less is left than a query's
// default δ (queryfile.DefaultDelta).
func accountStatus(a ledger.Account) string {
	eps := a.Remaining.Exhausted(dp.MinEpsilon, 0) != ""
	// The owner's estimates are pure ε-DP: its account has no δ.
	delta := a.Querier != party.OwnerAccount && a.Remaining.Exhausted(0, queryfile.DefaultDelta) != ""
	switch {
	case eps && delta:
		return "ε and δ spent"
	case eps:
		return "ε spent"
	case delta:
		return "δ spent"
	}
	return "ok"
}

// accountDoc is the JSON form of a querier's account.
type accountDoc struct {
	ledger.Account
	// Status is accountStatus's: "ok", "ε spent", "δ spent" or "ε and δ
	// spent".
	Status string `json:"status"`
}

// newBudgetCmd is `jointly budget`: the privacy budget spent and left per
// querier at one node.
func newBudgetCmd(logger func() hclog.Logger) *cobra.Command {
	var configPath, format string
	cmd := &cobra.Command{
		Use:   "budget --config FILE",
		Short: "Show the privacy budget spent and remaining per querier",
		Long: `Show, for every querier the node's configuration allows (and any that was
charged before), its ε and δ budget, what it has spent and what remains;
and for the data owner's own account (@owner, policy.owner_epsilon) what
the node spent on its own DP releases (automatic bounds, counts of consent
per purpose), when it does.
STATUS says when one of them is spent: ε when less is left than the smallest
ε a query may ask (1e-6), δ when less is left than a query file's default δ
(1e-7).

The numbers come from the node's append-only budget ledger (data_dir/budget.ledger),
which the node fsyncs before it contributes to a query; the command reads it
without locking, so it works while the node runs. Like the node at start, it
first checks the ledger against the audit log, and refuses to show a ledger
that lost charges the audit log recorded (see jointly budget rebuild).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := party.LoadConfig(configPath)
			if err != nil {
				return err
			}
			// A ledger that lost charges would show refunded budget.
			if err := cfg.CheckLedger(); err != nil {
				return err
			}
			accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.LedgerBudgets())
			if err != nil {
				return err
			}
			// The owner's own account is listed when it is used.
			owner := false
			accounts = slices.DeleteFunc(accounts, func(a ledger.Account) bool {
				if a.Querier != party.OwnerAccount {
					return false
				}
				owner = a.Charges > 0 || cfg.AutoBounds()
				return !owner
			})
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				docs := make([]accountDoc, len(accounts))
				for i, a := range accounts {
					docs[i] = accountDoc{Account: a, Status: accountStatus(a)}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(docs)
			case "table":
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "QUERIER\tEPSILON BUDGET\tSPENT\tREMAINING\tDELTA BUDGET\tSPENT\tREMAINING\tQUERIES\tSTATUS")
				spent := false
				for _, a := range accounts {
					status := accountStatus(a)
					spent = spent || status != "ok"
					fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.4g\t%.3g\t%.3g\t%.3g\t%d\t%s\n", a.Querier, a.Budget.Epsilon, a.Spent.Epsilon, a.Remaining.Epsilon,
						a.Budget.Delta, a.Spent.Delta, a.Remaining.Delta, a.Charges, status)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if owner {
					fmt.Fprintf(out, "\n%s is the data owner's own account (policy.owner_epsilon): what the node spent on its own DP releases (automatic bounds, counts of consent per purpose).\n", party.OwnerAccount)
				}
				if spent {
					fmt.Fprintf(out, "\nε spent: less ε is left than a query may ask (%g); δ spent: less δ is left than a query's default δ (%g).\n", dp.MinEpsilon, queryfile.DefaultDelta)
				}
				return nil
			default:
				return usageErrorf("budget: --format must be table or json, not %q", format)
			}
		},
	}
	configFlag(cmd, &configPath, "the node's HCL configuration (required)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.AddCommand(newBudgetRebuildCmd(logger))
	return cmd
}

// newBudgetRebuildCmd is `jointly budget rebuild`: the ledger recovered
// from the audit log's charges.
func newBudgetRebuildCmd(logger func() hclog.Logger) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "rebuild --config FILE",
		Short: "Rebuild a lost or rolled-back budget ledger from the audit log",
		Long: `Rebuild the node's budget ledger from its signed audit log, when the ledger
was deleted, truncated or replaced by an older copy and no genuine copy is
left (the node then refuses to start, naming the ledger). Every charge the
audit log allowed is charged again, in order, so every querier's spent
budget stays spent; the old ledger is kept beside the new one, and the audit
log records the new ledger's head. Stop the node first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := party.LoadConfig(configPath)
			if err != nil {
				return err
			}
			n, err := party.RebuildLedger(cfg, logger())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebuilt %s from %s: %d charges\n", cfg.LedgerPath(), cfg.AuditPath(), n)
			return nil
		},
	}
	configFlag(cmd, &configPath, "the node's HCL configuration (required)")
	return cmd
}
