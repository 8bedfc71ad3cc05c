package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
)

// newBudgetCmd is `jointly budget`: the privacy budget spent and left per
// querier at one node.
func newBudgetCmd(logger func() hclog.Logger) *cobra.Command {
	var configPath, format string
	cmd := &cobra.Command{
		Use:   "budget --config FILE",
		Short: "Show the privacy budget spent and remaining per querier",
		Long: `Show, for every querier the node's configuration allows (and any that was
charged before), its ε and δ budget, what it has spent and what remains.

The numbers come from the node's append-only budget ledger (data_dir/budget.ledger),
which the node fsyncs before it contributes to a query; the command reads it
without locking, so it works while the node runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := party.LoadConfig(configPath)
			if err != nil {
				return err
			}
			accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(accounts)
			case "table":
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "QUERIER\tEPSILON BUDGET\tSPENT\tREMAINING\tDELTA BUDGET\tSPENT\tREMAINING\tQUERIES")
				for _, a := range accounts {
					fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.4g\t%.3g\t%.3g\t%.3g\t%d\n", a.Querier, a.Budget.Epsilon, a.Spent.Epsilon, a.Remaining.Epsilon,
						a.Budget.Delta, a.Spent.Delta, a.Remaining.Delta, a.Charges)
				}
				return tw.Flush()
			default:
				return usageErrorf("budget: --format must be table or json, not %q", format)
			}
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the node's HCL configuration (required)")
	bindEnv(cmd.Flags(), "config", envConfig)
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	_ = cmd.MarkFlagRequired("config")
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
	cmd.Flags().StringVar(&configPath, "config", "", "the node's HCL configuration (required)")
	bindEnv(cmd.Flags(), "config", envConfig)
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
