package main

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree.
func newRootCmd() *cobra.Command {
	var level string
	root := &cobra.Command{
		Use:   "jointly",
		Short: "Secure multi-party analytics: statistics across organizations' data without sharing records",
		Long: `Jointly computes aggregate statistics over the customers that several
organizations have in common, without any of them seeing another's records.
Each organization runs a node next to its data; nodes hold a collective
homomorphic-encryption key that no single node can use alone, match their
records privately, and key-switch every result to the querier alone.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if hclog.LevelFromString(level) == hclog.NoLevel {
				return usageErrorf("--log-level %q: use trace, debug, info, warn or error", level)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: trace, debug, info, warn, error")
	// logger builds the root logger; a command may pick its own default
	// level, which --log-level overrides.
	logger := func(defaultLevel string) func() hclog.Logger {
		return func() hclog.Logger {
			l := level
			if defaultLevel != "" && !root.PersistentFlags().Changed("log-level") {
				l = defaultLevel
			}
			return hclog.New(&hclog.LoggerOptions{Name: "jointly", Level: hclog.LevelFromString(l), Output: os.Stderr})
		}
	}
	root.AddCommand(
		newNodeCmd(logger("")),
		// The demo tells its own story on standard output; node logs only
		// for problems unless asked.
		newDemoCmd(logger("error")),
		newVersionCmd(),
		newCACmd(),
		newAuditCmd(),
		newGenCmd(),
		newBudgetCmd(logger("")),
		newQueryCmd(),
	)
	return root
}
