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
records privately, and key-switch every result to the querier alone.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: trace, debug, info, warn, error")
	logger := func() hclog.Logger {
		return hclog.New(&hclog.LoggerOptions{Name: "jointly", Level: hclog.LevelFromString(level), Output: os.Stderr})
	}
	root.AddCommand(
		newNodeCmd(logger),
		newDemoCmd(logger),
		newVersionCmd(),
		newCACmd(),
		newAuditCmd(),
		newGenCmd(),
		newBudgetCmd(),
		newQueryCmd(),
	)
	return root
}
