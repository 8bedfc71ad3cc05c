package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/queryfile"
)

func newQueryCmd() *cobra.Command {
	var file, format, out, progress string
	var conn nodeFlags
	var pf planFlags
	cmd := &cobra.Command{
		Use:   "query --node ADDR --file QUERY.hcl",
		Short: "Run a joint query as a researcher and print the result",
		Long: `Send a joint query to a node and print the decrypted result.

The query file (HCL, see docs/results.md) names columns as node.column. The
node the query is sent to evaluates it: its columns are multiplied in
plaintext with the other owner's encrypted columns over the customers both
hold. The result comes back encrypted under a one-time key of this command,
so only this command can read it.

--plan predicts instead, free of charge, how precise every cell would come
out (its noise, the 95 % interval, the chance it is suppressed, and with
--target-halfwidth the ε a target needs), from the public bounds and what
--assume-n, --assume and --prior say of the data; the node records the plan
in its audit log. A query that runs shows the same predicted figures
beside the realised ones (docs/results.md, "Planning a query").

Authentication is mutual TLS with a querier certificate (jointly ca issue
--role querier): --tls-dir holds NAME.crt, NAME.key and ca.crt, and the
certificate says who is asking, so --name is needed only to pick one of
several certificates there. --insecure uses plaintext gRPC, for nodes
running with insecure_loopback, and --name names the querier.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A bad format is refused before the query spends any budget.
			if !slices.Contains([]string{"table", "json", "csv", "html"}, format) {
				return usageErrorf("query: --format must be table, json, csv or html, not %q", format)
			}
			if !slices.Contains([]string{progressAuto, progressLine, progressJSON, progressNone}, progress) {
				return usageErrorf("query: --progress must be auto, line, json or none, not %q", progress)
			}
			if pf.plan && format == "html" {
				return usageErrorf("query --plan: --format must be table, json or csv")
			}
			assumed, targets, err := pf.parse()
			if err != nil {
				return err
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return inputErrorf("query: %w", err)
			}
			// A mistake in the file is found before anything is sent.
			if _, _, err := queryfile.Check(file, src); err != nil {
				return err
			}
			client, querier, err := conn.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := commandContext(cmd)
			info, err := client.Info(ctx)
			if err != nil {
				return err
			}
			// Levels known (if none): Parse checks the node's group-by columns.
			levels := info.Levels
			if levels == nil {
				levels = map[string][]string{}
			}
			req, err := queryfile.Parse(file, src, queryfile.Target{Node: info.Node, Owners: info.Owners, Columns: info.Columns, Levels: levels})
			if err != nil {
				return err
			}
			if conn.insecure {
				req.Querier = querier
			}
			if assumed, err = forQuery(assumed, req, pf.assume); err != nil {
				return err
			}
			if pf.plan {
				return runPlan(ctx, cmd.OutOrStdout(), out, format, client, req, assumed, targets)
			}
			pp := newProgressPrinter(cmd.ErrOrStderr(), progress)
			if pp != nil {
				ctx = party.WithProgress(ctx, pp.report)
			}
			joint, err := client.Joint(ctx, req)
			pp.end()
			if err != nil {
				return err
			}
			res := &queryResult{JointResult: joint, Query: string(src), File: filepath.Base(file), Received: time.Now().UTC()}
			// The result stands without its prediction: the budget is spent.
			if err := res.Predict(assumed, targets); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "jointly: no prediction beside the result: %v\n", err)
			}
			if out != "" {
				if err := writeResultFile(out, format, res); err != nil {
					return fmt.Errorf("query: %w", err)
				}
				return nil
			}
			return writeResult(cmd.OutOrStdout(), format, res)
		},
	}
	conn.register(cmd, 30*time.Minute, "deadline of the whole query")
	cmd.Flags().StringVar(&file, "file", "", "query file, HCL (required)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, csv or html (a report with the correlation matrix as a heatmap)")
	cmd.Flags().StringVar(&out, "out", "", "write the result to this file instead of standard output")
	pf.register(cmd)
	cmd.Flags().StringVar(&progress, "progress", progressAuto, "progress of the query on standard error: auto (a line on a terminal), line, json (one object per report) or none")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
