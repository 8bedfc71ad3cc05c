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

Before it writes anything the node checks that tls_dir exists and that it
can write in data_dir, creating it if missing (exit 3 otherwise). If
another process already listens on its listen address, or another node
already runs with its data_dir, it exits 6.

On first start the node waits for every peer named in the configuration,
retrying with backoff for as long as timeouts.setup_wait allows (by default
until it is stopped), then runs the federation setup (multiparty key
generation) with them and stores its keys in data_dir; a restarted node
loads them instead, and one stopped mid-setup resumes it. If setup cannot
finish (setup_wait expired: exit 6; this node's keys do not match its
peers': exit 3) the node exits saying what to do.

It then answers peers and queriers until it receives SIGINT or SIGTERM. It
then drains: it refuses new queries, lets the queries it takes part in
finish for up to timeouts.shutdown (default 10s), cuts off the rest, closes
its audit log and ledger and exits 0. A second signal ends it at once.

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
	configFlag(cmd, &configPath, "path to the node's HCL configuration (required)")
	return cmd
}
