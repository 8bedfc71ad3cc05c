package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "jointly %s (%s, %s/%s)\n", party.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
