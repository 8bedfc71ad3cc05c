package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/fsutil"
	"github.com/jointly-dev/jointly/party/pki"
)

// newAuditCmd is `jointly audit`: checking and publishing a node's audit log.
func newAuditCmd(logger func() hclog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify a node's audit log and write its transparency report",
		Long: `Every Jointly node keeps an append-only audit log: one line per setup,
matching, query, policy decision and release, written before the action
takes effect, hash-chained and signed with the node's Ed25519 key.

"jointly audit verify" detects any modified, deleted, inserted or reordered
line. "jointly audit report" renders the log as a transparency report for
the node's data-protection officer and customers, in HTML and JSON.
"jointly audit accept-loss" records that the log lost events a peer had
witnessed (an older copy was put back and no newer one is left).`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditReportCmd(), newAuditAcceptLossCmd(logger))
	return cmd
}

// auditKeyFlags selects the key a log is verified with.
type auditKeyFlags struct {
	cert, pub, ca string
}

func (k *auditKeyFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&k.cert, "cert", "", "the node's certificate (NAME.crt): verify with its key")
	f.StringVar(&k.pub, "pub", "", "a PEM public key file (LOG.pub) to verify with")
	f.StringVar(&k.ca, "ca", "", "federation ca.crt: also check that --cert is a node certificate it issued")
	cmd.MarkFlagsMutuallyExclusive("cert", "pub")
}

// fromConfig reads the node configuration at path for the audit commands:
// the node's audit log is the default log, and unless --cert or --pub says
// otherwise the log is verified with the node's certificate in its tls_dir
// (checked against the federation CA there).
func (k *auditKeyFlags) fromConfig(path string, logPath *string) (party.Config, error) {
	cfg, err := party.LoadConfig(path)
	if err != nil {
		return cfg, err
	}
	if *logPath == "" {
		*logPath = cfg.AuditPath()
	}
	if k.cert == "" && k.pub == "" && cfg.TLSDir != "" {
		k.cert = filepath.Join(cfg.TLSDir, cfg.Name+".crt")
		if k.ca == "" {
			k.ca = filepath.Join(cfg.TLSDir, "ca.crt")
		}
	}
	return cfg, nil
}

// load returns the verification key and a description of where it came
// from. Without flags it falls back to LOG.pub, which proves only that the
// log is consistent with the key stored beside it.
func (k *auditKeyFlags) load(logPath string, stderr io.Writer) (ed25519.PublicKey, string, error) {
	if k.ca != "" && k.cert == "" {
		return nil, "", usageErrorf("--ca needs --cert")
	}
	if k.cert != "" {
		cert, err := pki.LoadCertificate(k.cert)
		if err != nil {
			return nil, "", err
		}
		pub, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok {
			return nil, "", fmt.Errorf("%s: not an Ed25519 certificate", k.cert)
		}
		id, err := pki.IdentityFromCert(cert)
		if err != nil {
			return nil, "", err
		}
		if k.ca != "" {
			caCert, err := pki.LoadCertificate(k.ca)
			if err != nil {
				return nil, "", err
			}
			roots := x509.NewCertPool()
			roots.AddCert(caCert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return nil, "", fmt.Errorf("%s was not issued by %s: %w", k.cert, k.ca, err)
			}
			if id.Role != pki.RoleNode {
				return nil, "", fmt.Errorf("%s belongs to %s, not a node", k.cert, id)
			}
			return pub, id.String() + " (certificate issued by the federation CA)", nil
		}
		return pub, id.String() + " (certificate not checked against a CA; pass --ca)", nil
	}
	path := k.pub
	if path == "" {
		path = logPath + ".pub"
		fmt.Fprintf(stderr, "note: using %s stored beside the log; pass --cert NODE.crt --ca ca.crt to check who signed it\n", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read public key: %w", err)
	}
	pub, err := audit.ParsePublicKey(data)
	if err != nil {
		return nil, "", err
	}
	return pub, "key " + hex.EncodeToString(pub[:8]) + "… from " + path, nil
}

func parseAnchor(s string) (audit.Head, error) {
	return parseHead("anchor", "jointly audit verify", s)
}

// parseHead parses a log head SEQ:SHA256HEX given as flag, as printer
// printed it.
func parseHead(flag, printer, s string) (audit.Head, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if _, herr := hex.DecodeString(hash); !ok || err != nil || len(hash) != 64 || herr != nil {
		return audit.Head{}, usageErrorf("%s %q: want SEQ:SHA256HEX as printed by %s", flag, s, printer)
	}
	return audit.Head{Seq: n, Hash: strings.ToLower(hash)}, nil
}

func verifyAuditLog(path string, pub ed25519.PublicKey, anchorArgs []string) (audit.Head, error) {
	var anchors []audit.Head
	for _, a := range anchorArgs {
		h, err := parseAnchor(a)
		if err != nil {
			return audit.Head{}, err
		}
		anchors = append(anchors, h)
	}
	f, err := os.Open(path)
	if err != nil {
		return audit.Head{}, err
	}
	defer f.Close()
	return audit.VerifyHead(f, pub, anchors...)
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		logPath, configPath string
		anchors             []string
		keys                auditKeyFlags
	)
	cmd := &cobra.Command{
		Use:   "verify --log FILE | --config NODE.hcl [--cert NODE.crt [--ca ca.crt] | --pub FILE] [--anchor SEQ:HASH...]",
		Short: "Check an audit log's signatures and hash chain",
		Long: `Check every line of an audit log: its Ed25519 signature, its sequence number
and its link to the previous line. Any modified, deleted, inserted or
reordered line makes the command fail and name the first bad line.

The key to verify with is the node's certificate (--cert, the NAME.crt that
"jointly ca issue" wrote; add --ca to check that the federation CA issued it
to a node) or a PEM public key (--pub). Without either, the LOG.pub file the
node writes beside its log is used, which only shows that the log is
consistent with that file. --config NODE.hcl verifies the node's own log
with the certificate and CA in its tls_dir.

On success the head of the log (SEQ:HASH of its last line) is printed. Keep
it: passing it later as --anchor detects lines deleted from the end, which
the file alone cannot show.`,
		Example: `  jointly audit verify --config retailer.hcl
  jointly audit verify --log retailer/audit.jsonl --cert retailer/retailer.crt --ca retailer/ca.crt
  jointly audit verify --log audit.jsonl --pub audit.jsonl.pub --anchor 42:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath != "" {
				if _, err := keys.fromConfig(configPath, &logPath); err != nil {
					return err
				}
			}
			if logPath == "" {
				return usageErrorf("audit verify: --log or --config is required")
			}
			pub, signer, err := keys.load(logPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			head, err := verifyAuditLog(logPath, pub, anchors)
			if err != nil {
				return fmt.Errorf("%s: %w", logPath, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d events verified, signed by %s\nhead: %s\n", head.Seq, signer, head)
			return nil
		},
	}
	cmd.Flags().StringVar(&logPath, "log", "", "audit log file (default with --config: the node's)")
	cmd.Flags().StringVar(&configPath, "config", "", "the node's HCL configuration: its audit log, verified with the certificate in its tls_dir")
	cmd.Flags().StringSliceVar(&anchors, "anchor", nil, "a head SEQ:HASH seen earlier that the log must still contain (repeatable)")
	keys.register(cmd)
	return cmd
}

func newAuditReportCmd() *cobra.Command {
	var (
		logPath, out, format, configPath string
		keys                             auditKeyFlags
	)
	cmd := &cobra.Command{
		Use:   "report --log FILE | --config NODE.hcl [--out FILE.html] [--format html|json] [--cert NODE.crt [--ca ca.crt] | --pub FILE]",
		Short: "Write the transparency report of an audit log, as HTML and JSON",
		Long: `Write the transparency report of a node's audit log for its data-protection
officer and its customers: every query run on the node's data, who asked,
for what purpose, which of the node's columns it used, at what privacy cost
(ε, δ) and when, and what happened to it (released, refused and why,
aborted after its charge); the privacy budget of every requester, spent and
left; what ε means, on a scale; and the node's other activity (setup,
private matching) in plain words.

The log does not record budgets: --config NODE.hcl reads them (the queriers'
epsilon and delta) from the node's configuration, whose audit log is then
the default --log. Without it the report shows what each requester spent,
not what it has left.

--format html (the default) writes a self-contained page; --format json the
same content for programs. With --out FILE.html the JSON is written beside
it too, as FILE.json.

With --cert or --pub, or with --config and a tls_dir, the log is verified
first and no report is written if it fails; without them the report is
rendered as is (verify separately).`,
		Example: `  jointly audit report --config retailer.hcl --cert retailer/retailer.crt --ca retailer/ca.crt --out transparency.html
  jointly audit report --log retailer/audit.log --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "html" && format != "json" {
				return usageErrorf("audit report: --format must be html or json, not %q", format)
			}
			var budgets map[string]audit.Budget
			if configPath != "" {
				cfg, err := keys.fromConfig(configPath, &logPath)
				if err != nil {
					return err
				}
				budgets = map[string]audit.Budget{}
				for q, b := range cfg.Budgets() {
					budgets[q] = audit.Budget{Epsilon: b.Epsilon, Delta: b.Delta}
				}
			}
			if logPath == "" {
				return usageErrorf("audit report: --log or --config is required")
			}
			if keys.cert != "" || keys.pub != "" {
				pub, _, err := keys.load(logPath, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				if _, err := verifyAuditLog(logPath, pub, nil); err != nil {
					return fmt.Errorf("%s: %w", logPath, err)
				}
			}
			report, err := readTransparency(logPath, budgets)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return writeTransparency(cmd.OutOrStdout(), report, format)
			}
			written, err := writeTransparencyFiles(report, format, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", strings.Join(written, " and "))
			return nil
		},
	}
	cmd.Flags().StringVar(&logPath, "log", "", "audit log file (default with --config: the node's)")
	cmd.Flags().StringVar(&configPath, "config", "", "the node's HCL configuration: the requesters' budgets, and the audit log")
	cmd.Flags().StringVar(&out, "out", "", "output file (default: standard output); FILE.html also writes FILE.json")
	cmd.Flags().StringVar(&format, "format", "html", "output format: html or json")
	keys.register(cmd)
	return cmd
}

// readTransparency reads the log at path into a transparency report, with
// the requesters' budgets if known.
func readTransparency(path string, budgets map[string]audit.Budget) (*audit.Transparency, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return audit.Summarize(f, audit.ReportOptions{Budgets: budgets})
}

func writeTransparency(w io.Writer, t *audit.Transparency, format string) error {
	if format == "json" {
		return t.WriteJSON(w)
	}
	return t.WriteHTML(w)
}

// writeTransparencyFiles writes the report to out in format, and for HTML
// its JSON beside it (out with the extension .json); it returns the files
// it wrote.
func writeTransparencyFiles(t *audit.Transparency, format, out string) ([]string, error) {
	files := map[string]string{out: format}
	order := []string{out}
	if format == "html" {
		js := strings.TrimSuffix(out, filepath.Ext(out)) + ".json"
		if js != out {
			files[js] = "json"
			order = append(order, js)
		}
	}
	for _, path := range order {
		var buf bytes.Buffer
		if err := writeTransparency(&buf, t, files[path]); err != nil {
			return nil, err
		}
		if err := fsutil.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// newAuditAcceptLossCmd is `jointly audit accept-loss`: the loss of events
// a peer witnessed, recorded so that the peer works with this node again.
func newAuditAcceptLossCmd(logger func() hclog.Logger) *cobra.Command {
	var configPath, peer, witnessed string
	cmd := &cobra.Command{
		Use:   "accept-loss --config NODE.hcl --peer NAME --witnessed SEQ:HASH",
		Short: "Record that the audit log lost events a peer witnessed",
		Long: `Every node keeps the newest head of each peer's audit log it has seen. A
node whose audit log and budget ledger were put back from an older copy (or
deleted) ends before what its peers witnessed: that would refund the budget
spent since, so the peers take part in no query with it and the node
refuses queries itself, naming the peer and the head it witnessed.

Put back the newest audit.log and budget.ledger if you have them. If they
are lost, stop the node and run this command with the peer and head from
that message: it appends an audit_loss event to the node's log, the peer
accepts the shorter log at its next contact and records that it did, and
the transparency reports of both say so. The charges recorded in the lost
events are lost with them. Run it once for each peer that reports a head.`,
		Example: `  jointly audit accept-loss --config retailer.hcl --peer insurer --witnessed 214:5c1f…`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := parseHead("--witnessed", "the node's refusal", witnessed)
			if err != nil {
				return err
			}
			cfg, err := party.LoadConfig(configPath)
			if err != nil {
				return err
			}
			head, err := party.AcceptAuditLoss(cfg, peer, h, logger())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded in %s that the events up to %d:%s, which %s witnessed, are lost; the log's head is now %s\n",
				cfg.AuditPath(), h.Seq, h.Hash, peer, head)
			return nil
		},
	}
	configFlag(cmd, &configPath, "the node's HCL configuration (required)")
	cmd.Flags().StringVar(&peer, "peer", "", "the peer that witnessed the lost head (required)")
	cmd.Flags().StringVar(&witnessed, "witnessed", "", "the head it witnessed, SEQ:HASH as the refusal printed it (required)")
	_ = cmd.MarkFlagRequired("peer")
	_ = cmd.MarkFlagRequired("witnessed")
	return cmd
}
