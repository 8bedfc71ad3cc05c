package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
each party its NAME.crt, NAME.key and ca.crt; keep ca.key offline. Before a
certificate expires (after two years by default), "jointly ca renew" signs a
new one for the same identity and key; a running node takes it up at its
next handshake.`,
	}
	cmd.AddCommand(newCAInitCmd(), newCAIssueCmd(), newCARenewCmd())
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
		caDir, name, role, out, validFor string
		hosts                            []string
	)
	cmd := &cobra.Command{
		Use:   "issue --ca DIR --name NAME --role node|querier [--out DIR] [--host HOST...] [--valid-for DURATION]",
		Short: "Issue a node or querier certificate signed by the federation CA",
		Long: `Issue NAME.crt and NAME.key signed by the CA in --ca, and copy ca.crt next to
them, so that the output directory is all a node or querier needs.

NAME is the identity (letters, digits, '.', '_', '-'), the name that node
configurations use for peers and queriers. A node certificate is valid for
the --host names and addresses its peers dial (localhost, 127.0.0.1 and ::1
when none is given) and for both server and client authentication; a querier
certificate is for client authentication only. It is valid for --valid-for
(two years by default), and never beyond the CA's own certificate.`,
		Example: `  jointly ca issue --ca ./pki --name retailer --role node --host retailer.example.com --out ./retailer
  jointly ca issue --ca ./pki --name alice --role querier --out ./alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return err
			}
			d, err := parseValidity(validFor)
			if err != nil {
				return err
			}
			if err := pki.Issue(caDir, name, r, hosts, out, d); err != nil {
				return err
			}
			dir := out
			if dir == "" {
				dir = caDir
			}
			certPath := filepath.Join(dir, name+".crt")
			until := ""
			if c, err := pki.LoadCertificate(certPath); err == nil {
				until = ", valid until " + c.NotAfter.UTC().Format(time.DateOnly)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s/%s: %s, %s%s\n", r, name, certPath, filepath.Join(dir, name+".key"), until)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca", "", "directory holding ca.crt and ca.key")
	f.StringVar(&name, "name", "", "identity name of the node or querier")
	f.StringVar(&role, "role", "", "node or querier")
	f.StringVar(&out, "out", "", "output directory (default: the --ca directory)")
	f.StringSliceVar(&hosts, "host", nil, "DNS name or IP address the node is reached at (repeatable; nodes only)")
	f.StringVar(&validFor, "valid-for", defaultValidity, "how long the certificate is valid: days (90d) or a duration (720h)")
	cmd.MarkFlagRequired("ca")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return cmd
}

// defaultValidity is --valid-for's default, pki.LeafValidity in days.
var defaultValidity = strconv.Itoa(int(pki.LeafValidity.Hours()/24)) + "d"

// parseValidity reads --valid-for: whole days ("90d") or a Go duration
// ("720h"), positive.
func parseValidity(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > 100*365*24*time.Hour {
		return 0, usageErrorf("--valid-for %q: want a positive number of days (90d) or a duration (720h)", s)
	}
	return d, nil
}

func newCARenewCmd() *cobra.Command {
	var caDir, certPath, validFor string
	cmd := &cobra.Command{
		Use:   "renew --ca DIR --cert NAME.crt [--valid-for DURATION]",
		Short: "Renew a node or querier certificate before it expires",
		Long: `Sign a new certificate for the identity, hosts and key of an existing one, and
put it in its place; the old certificate is kept beside it as
NAME.crt.replaced-TIME. The key (NAME.key) does not change and is not needed:
a party sends its NAME.crt to the CA and puts the renewed one back in its TLS
directory. A running node presents the renewed certificate from its next
connection on, without a restart; a node logs a warning from 30 days before
its certificate expires.`,
		Example: `  jointly ca renew --ca ./pki --cert ./retailer/retailer.crt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseValidity(validFor)
			if err != nil {
				return err
			}
			c, kept, err := pki.Renew(caDir, certPath, d)
			if err != nil {
				return err
			}
			id, _ := pki.IdentityFromCert(c)
			fmt.Fprintf(cmd.OutOrStdout(), "renewed %s: %s, valid until %s; the old certificate is %s\n",
				id, certPath, c.NotAfter.UTC().Format(time.DateOnly), kept)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca", "", "directory holding ca.crt and ca.key")
	f.StringVar(&certPath, "cert", "", "the certificate to renew (NAME.crt)")
	f.StringVar(&validFor, "valid-for", defaultValidity, "how long the renewed certificate is valid: days (90d) or a duration (720h)")
	cmd.MarkFlagRequired("ca")
	cmd.MarkFlagRequired("cert")
	return cmd
}
