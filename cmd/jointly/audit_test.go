package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/audit"
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

	out, err := runCobra(t, newAuditCmd(), "verify", "--log", logPath, "--cert", cert, "--ca", ca)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ok: 3 events verified, signed by node/retailer (certificate issued by the federation CA)") {
		t.Errorf("output %q", out)
	}
	head := strings.TrimSpace(out[strings.Index(out, "head: ")+len("head: "):])

	if out, err := runCobra(t, newAuditCmd(), "verify", "--log", logPath); err != nil || !strings.Contains(out, "ok: 3 events") {
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
			_, err := runCobra(t, newAuditCmd(), append([]string{"verify", "--log", logPath}, tc.args...)...)
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
	if _, err := runCobra(t, newAuditCmd(), "verify", "--log", tampered, "--cert", cert); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("tampered log: %v", err)
	}
	// Truncation is caught against the head printed earlier.
	truncated := filepath.Join(t.TempDir(), "truncated.jsonl")
	os.WriteFile(truncated, bytes.Join(lines[:2], nil), 0o600)
	if _, err := runCobra(t, newAuditCmd(), "verify", "--log", truncated, "--cert", cert, "--anchor", head); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated log with anchor %s: %v", head, err)
	}
}

func TestAuditReportCommand(t *testing.T) {
	caDir, nodeDir, _ := newTestFederation(t)
	logPath := writeNodeLog(t, nodeDir)
	html := filepath.Join(t.TempDir(), "report.html")
	if _, err := runCobra(t, newAuditCmd(), "report", "--log", logPath, "--cert", filepath.Join(nodeDir, "retailer.crt"), "--ca", filepath.Join(caDir, "ca.crt"), "--out", html); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"diabetes risk study", "alice", "released"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	// A log that fails verification gets no report.
	f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"kind":"release","actor":"retailer","prev":"x","sig":"00"}` + "\n")
	f.Close()
	bad := filepath.Join(t.TempDir(), "bad.html")
	if _, err := runCobra(t, newAuditCmd(), "report", "--log", logPath, "--pub", logPath+".pub", "--out", bad); err == nil {
		t.Error("report written for a tampered log")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Error("output file exists after a failed verification")
	}
}
