package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
)

func writeNodeLog(t *testing.T, nodeDir string) string {
	t.Helper()
	key, err := pki.LoadSigner(nodeDir, "retailer")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(nodeDir, "audit.jsonl")
	l, err := audit.Open(path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range []audit.Event{
		{Kind: audit.KindSetup, Actor: "retailer"},
		{Kind: audit.KindQueryReceived, Actor: "retailer", Querier: "alice", Purpose: "diabetes risk study", Epsilon: 1, Delta: 1e-6, QueryID: "q1"},
		{Kind: audit.KindRelease, Actor: "retailer", Querier: "alice", Epsilon: 1, Delta: 1e-6, QueryID: "q1"},
	} {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestAuditVerifyCommand(t *testing.T) {
	caDir, nodeDir, querierDir := newTestFederation(t)
	logPath := writeNodeLog(t, nodeDir)
	cert, ca := filepath.Join(nodeDir, "retailer.crt"), filepath.Join(caDir, "ca.crt")

	out, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--log", logPath, "--cert", cert, "--ca", ca)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ok: 3 events verified, signed by node/retailer (certificate issued by the federation CA)") {
		t.Errorf("output %q", out)
	}
	head := strings.TrimSpace(out[strings.Index(out, "head: ")+len("head: "):])

	if out, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--log", logPath); err != nil || !strings.Contains(out, "ok: 3 events") {
		t.Errorf("verify with LOG.pub: %q, %v", out, err)
	}

	// Another CA's node certificate, a querier certificate, another node's key.
	otherCA, _, _ := newTestFederation(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate from another CA", []string{"--cert", cert, "--ca", filepath.Join(otherCA, "ca.crt")}, "was not issued by"},
		{"querier certificate", []string{"--cert", filepath.Join(querierDir, "alice.crt"), "--ca", ca}, "not a node"},
		{"wrong key", []string{"--cert", filepath.Join(querierDir, "alice.crt")}, "line 1: signature does not verify"},
		{"both key flags", []string{"--cert", cert, "--pub", logPath + ".pub"}, "none of the others can be"},
		{"bad anchor", []string{"--cert", cert, "--anchor", "3:zz"}, "want SEQ:SHA256HEX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), append([]string{"verify", "--log", logPath}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}

	// Tampering: lower the privacy cost recorded on line 3.
	data, _ := os.ReadFile(logPath)
	lines := bytes.SplitAfter(data, []byte("\n"))
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	os.WriteFile(tampered, bytes.Join([][]byte{lines[0], lines[1], bytes.Replace(lines[2], []byte(`"epsilon":1`), []byte(`"epsilon":0.1`), 1)}, nil), 0o600)
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--log", tampered, "--cert", cert); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("tampered log: %v", err)
	}
	// Truncation is caught against the head printed earlier.
	truncated := filepath.Join(t.TempDir(), "truncated.jsonl")
	os.WriteFile(truncated, bytes.Join(lines[:2], nil), 0o600)
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--log", truncated, "--cert", cert, "--anchor", head); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated log with anchor %s: %v", head, err)
	}
}

func TestAuditReportCommand(t *testing.T) {
	caDir, nodeDir, _ := newTestFederation(t)
	logPath := writeNodeLog(t, nodeDir)
	html := filepath.Join(t.TempDir(), "report.html")
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "report", "--log", logPath, "--cert", filepath.Join(nodeDir, "retailer.crt"), "--ca", filepath.Join(caDir, "ca.crt"), "--out", html); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"diabetes risk study", "alice", "released", "Budgets are not in the log"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The same content as JSON beside the page, and on standard output.
	js, err := os.ReadFile(strings.TrimSuffix(html, ".html") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "report", "--log", logPath, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdout audit.Transparency
	if err := json.Unmarshal(js, &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &fromStdout); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(fromFile.Queries) != 1 || fromFile.Queries[0].Purpose != "diabetes risk study" || fromFile.BudgetsKnown || len(fromStdout.Requesters) != 1 {
		t.Errorf("JSON report: %+v", fromFile)
	}

	// With the node's configuration the report has every querier's
	// budget (the log charged nothing: all of it is left), and the log is
	// the node's.
	dataDir := t.TempDir()
	log, _ := os.ReadFile(logPath)
	if err := os.WriteFile(filepath.Join(dataDir, "audit.log"), log, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dataDir, "node.hcl")
	os.WriteFile(cfg, []byte(partytest.RetailerHCL(dataDir)+`querier "alice" {
  epsilon = 3
  delta = 1e-5
}
querier "bob" {
  epsilon = 1
}
`), 0o600)
	out, err = runCobra(t, newAuditCmd(hclog.NewNullLogger), "report", "--config", cfg, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var withBudgets audit.Transparency
	if err := json.Unmarshal([]byte(out), &withBudgets); err != nil {
		t.Fatal(err)
	}
	if r := withBudgets.Requesters; len(r) != 2 || r[0].Requester != "alice" || r[0].Budget == nil || r[0].Left.Epsilon != 3 || r[0].Left.Delta != 1e-5 || r[1].Requester != "bob" || r[1].Left.Epsilon != 1 {
		t.Errorf("requesters with budgets: %+v", r)
	}
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "report"); err == nil || !strings.Contains(err.Error(), "--log or --config") {
		t.Errorf("report without a log: %v", err)
	}
	// A log that fails verification gets no report.
	f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"kind":"release","actor":"retailer","prev":"x","sig":"00"}` + "\n")
	f.Close()
	bad := filepath.Join(t.TempDir(), "bad.html")
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "report", "--log", logPath, "--pub", logPath+".pub", "--out", bad); err == nil {
		t.Error("report written for a tampered log")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Error("output file exists after a failed verification")
	}
}

// TestAuditVerifyWithConfig: with the node's configuration, verify finds
// the node's log and checks it with the certificate and CA of its tls_dir,
// so a tampered line fails without any key flag.
func TestAuditVerifyWithConfig(t *testing.T) {
	_, nodeDir, _ := newTestFederation(t)
	logPath := writeNodeLog(t, nodeDir)
	dataDir := t.TempDir()
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "audit.log"), log, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dataDir, "node.hcl")
	// The retailer's configuration, with mutual TLS instead of plaintext.
	hcl := strings.Replace(partytest.RetailerHCL(dataDir), "insecure_loopback = true", fmt.Sprintf("tls_dir = %q", nodeDir), 1)
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--config", cfg)
	if err != nil || !strings.Contains(out, "signed by node/retailer (certificate issued by the federation CA)") {
		t.Fatalf("verify --config: %v\n%s", err, out)
	}
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify"); err == nil || !strings.Contains(err.Error(), "--log or --config") {
		t.Errorf("verify without a log: %v", err)
	}
	tampered := strings.Replace(string(log), "diabetes risk study", "diabetes risk stud!", 1)
	if tampered == string(log) {
		t.Fatal("the log has no purpose to tamper with")
	}
	if err := os.WriteFile(filepath.Join(dataDir, "audit.log"), []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCobra(t, newAuditCmd(hclog.NewNullLogger), "verify", "--config", cfg); err == nil {
		t.Error("a tampered log verified with the node's certificate")
	}
}

// TestAuditAcceptLoss: jointly audit accept-loss records a loss a peer
// witnessed in the node's log (here deleted: a node whose data directory
// was lost), and the transparency report tells it; a head the log holds,
// a node that is no peer and a malformed head are refused, and the log is
// left as it was.
func TestAuditAcceptLoss(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, "node.hcl", partytest.RetailerHCL(dir)+`querier "researcher" {}
`)
	logPath := filepath.Join(dir, "audit.log")
	lost := fmt.Sprintf("9:%064x", 7)
	code, out := runCLI(t, "audit", "accept-loss", "--config", path, "--peer", "insurer", "--witnessed", lost)
	if code != exitOK || !strings.Contains(out, "which insurer witnessed, are lost") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "audit", "report", "--log", logPath, "--format", "json")
	if code != exitOK || !strings.Contains(out, "insurer had seen it reach event 9, and the events after event 0 up to that one are lost") {
		t.Fatalf("the report does not tell the loss: exit %d\n%s", code, out)
	}
	_, held, err := audit.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--peer", "insurer", "--witnessed", held.String()}, exitInput, "nothing is lost"},
		{[]string{"--peer", "auditor", "--witnessed", lost}, exitPolicy, `"auditor" is not a peer`},
		{[]string{"--peer", "insurer", "--witnessed", "9:abc"}, exitUsage, "want SEQ:SHA256HEX"},
		{[]string{"--peer", "insurer"}, exitUsage, "witnessed"},
	} {
		before, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		code, out := runCLI(t, append([]string{"audit", "accept-loss", "--config", path}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("accept-loss %v: exit %d, want %d saying %q\n%s", tc.args, code, tc.code, tc.want, out)
		}
		if after, _ := os.ReadFile(logPath); !bytes.Equal(before, after) {
			t.Errorf("accept-loss %v changed the log", tc.args)
		}
	}
}
