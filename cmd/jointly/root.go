package main

import (
	"context"
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

` + envHelp + "\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The only PersistentPreRunE of the tree: cobra runs the nearest one.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			fromEnv, err := applyEnv(cmd)
			if err != nil {
				return err
			}
			if hclog.LevelFromString(level) == hclog.NoLevel {
				from := "--log-level"
				if env, ok := fromEnv["log-level"]; ok {
					from = "$" + env
				}
				return usageErrorf("%s %q: use trace, debug, info, warn or error", from, level)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: trace, debug, info, warn, error")
	bindEnv(root.PersistentFlags(), "log-level", envLogLevel)
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
		newAuditCmd(logger("")),
		newGenCmd(),
		newBudgetCmd(logger("")),
		newQueryCmd(),
		newInfoCmd(),
		newValidateCmd(),
	)
	return root
}

// commandContext is cmd's context, or the background context when cmd was
// executed without one (as tests do).
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
