package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
)

func newNodeCmd(logger func() hclog.Logger) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "node --config FILE",
		Short: "Run a data owner's node",
		Long: `Run a Jointly node: the gRPC server a data owner runs next to its data.

On first start, once every peer named in the configuration is reachable, the
node runs the federation setup (multiparty key generation) on its own and
stores its keys in data_dir; a restarted node loads them instead. The node
then answers peers and queriers until it receives SIGINT or SIGTERM; it then
lets calls in flight finish for up to timeouts.shutdown (default 10s), cancels
the rest and exits. A second signal ends it at once.

The configuration file is HCL; see docs/configuration.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := party.LoadConfig(configPath)
			if err != nil {
				return err
			}
			n, err := party.New(cfg, logger())
			if err != nil {
				return err
			}
			return n.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "path to the node's HCL configuration (required)")
	bindEnv(cmd.Flags(), "config", envConfig)
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
