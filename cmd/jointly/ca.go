package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party/pki"
)

// newCACmd is `jointly ca`: the federation's certificate authority.
func newCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create the federation CA and issue node and querier certificates",
		Long: `Every connection in a Jointly federation is mutual TLS. Whoever sets up the
federation runs "jointly ca init" once, then "jointly ca issue" for every node
(data owner) and every querier (researcher). A certificate's name is the
identity that node configurations refer to (allowed queriers, peers), and its
role (node or querier) is part of the certificate, so a querier can never act
as a node.

Keys are Ed25519, written with 0600 permissions, and never overwritten. Hand
each party its NAME.crt, NAME.key and ca.crt; keep ca.key offline.`,
	}
	cmd.AddCommand(newCAInitCmd(), newCAIssueCmd())
	return cmd
}

func newCAInitCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "init --out DIR",
		Short: "Create a new federation CA (ca.crt, ca.key) in DIR",
		Long: `Create a new federation certificate authority in DIR: ca.crt (public, give
it to every party) and ca.key (secret, 0600; keep it offline). Refuses to
replace an existing CA.`,
		Example: "  jointly ca init --out ./pki",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.InitCA(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s and %s\n", filepath.Join(out, "ca.crt"), filepath.Join(out, "ca.key"))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for the CA files (created 0700 if missing)")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newCAIssueCmd() *cobra.Command {
	var (
		caDir, name, role, out string
		hosts                  []string
	)
	cmd := &cobra.Command{
		Use:   "issue --ca DIR --name NAME --role node|querier [--out DIR] [--host HOST...]",
		Short: "Issue a node or querier certificate signed by the federation CA",
		Long: `Issue NAME.crt and NAME.key signed by the CA in --ca, and copy ca.crt next to
them, so that the output directory is all a node or querier needs.

NAME is the identity (letters, digits, '.', '_', '-'), the name that node
configurations use for peers and queriers. A node certificate is valid for
the --host names and addresses its peers dial (localhost, 127.0.0.1 and ::1
when none is given) and for both server and client authentication; a querier
certificate is for client authentication only.`,
		Example: `  jointly ca issue --ca ./pki --name retailer --role node --host retailer.example.com --out ./retailer
  jointly ca issue --ca ./pki --name alice --role querier --out ./alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return err
			}
			if err := pki.Issue(caDir, name, r, hosts, out); err != nil {
				return err
			}
			dir := out
			if dir == "" {
				dir = caDir
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s/%s: %s, %s\n", r, name,
				filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca", "", "directory holding ca.crt and ca.key")
	f.StringVar(&name, "name", "", "identity name of the node or querier")
	f.StringVar(&role, "role", "", "node or querier")
	f.StringVar(&out, "out", "", "output directory (default: the --ca directory)")
	f.StringSliceVar(&hosts, "host", nil, "DNS name or IP address the node is reached at (repeatable; nodes only)")
	cmd.MarkFlagRequired("ca")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return cmd
}
