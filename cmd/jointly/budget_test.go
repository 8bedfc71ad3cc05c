package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/ledger"
)

func TestBudgetCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`name = "retailer"
federation = "f"
listen = "127.0.0.1:7101"
data_dir = %q
insecure_loopback = true
peer "insurer" {
  address = "127.0.0.1:7102"
}
querier "alice" {
  epsilon = 3
  delta = 1e-6
}
querier "bob" {
  epsilon = 1
}
`, dir)
	path := filepath.Join(dir, "node.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "budget.ledger"), map[string]ledger.Budget{"alice": {Epsilon: 3, Delta: 1e-6}, "bob": {Epsilon: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge("alice", "query-0001", "d", 1.25, 1e-7); err != nil {
		t.Fatal(err)
	}
	defer l.Close() // the node keeps the ledger open: budget must still read it

	run := func(args ...string) string {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	table := run("budget", "--config", path)
	if !strings.Contains(table, "alice") || !strings.Contains(table, "1.75") || !strings.Contains(table, "bob") {
		t.Fatalf("table:\n%s", table)
	}
	var accounts []ledger.Account
	if err := json.Unmarshal([]byte(run("budget", "--config", path, "--format", "json")), &accounts); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 2 || accounts[0].Spent.Epsilon != 1.25 || accounts[0].Remaining.Epsilon != 1.75 || accounts[1].Remaining.Epsilon != 1 {
		t.Fatalf("json: %+v", accounts)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"budget", "--config", filepath.Join(dir, "missing.hcl")})
	cmd.SetOut(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil {
		t.Fatal("missing config accepted")
	}
}
