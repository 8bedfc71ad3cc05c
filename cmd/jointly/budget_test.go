package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
)

// anchorLedger records l's head in the audit log of the data_dir dir, as a
// node does for charges its audit log had not recorded: the ledger and
// the log then agree, as the commands check.
func anchorLedger(t *testing.T, dir string, l *ledger.Ledger) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audit.Open(filepath.Join(dir, "audit.log"), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append(audit.Event{Kind: audit.KindLedgerAnchor, Actor: "retailer", Detail: map[string]string{audit.DetailLedgerHead: l.Head().String()}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := partytest.RetailerHCL(dir) + `querier "alice" {
  epsilon = 3
  delta = 1e-6
}
querier "bob" {
  epsilon = 1
}
`
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
	anchorLedger(t, dir, l)
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

// TestBudgetOwnerAccount: the owner's own account is listed once it was
// charged (an estimate of automatic bounds), with its ε only: it has no δ,
// and no δ is "spent".
func TestBudgetOwnerAccount(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.hcl")
	if err := os.WriteFile(path, []byte(partytest.RetailerHCL(dir)+`querier "alice" {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "budget", "--config", path)
	if code != exitOK || strings.Contains(out, party.OwnerAccount) {
		t.Fatalf("a node without automatic bounds lists the owner's account: exit %d\n%s", code, out)
	}
	l, err := ledger.Open(filepath.Join(dir, "budget.ledger"), map[string]ledger.Budget{party.OwnerAccount: {Epsilon: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(party.OwnerAccount, "bounds-spend-1", "d", 0.1, 0); err != nil {
		t.Fatal(err)
	}
	anchorLedger(t, dir, l)
	l.Close()
	code, out = runCLI(t, "budget", "--config", path)
	if code != exitOK || !regexp.MustCompile(`@owner +1 +0.1 +0.9 +0 +0 +0 +1 +ok`).MatchString(out) || !strings.Contains(out, "@owner is the data owner's own account") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// dpQuery is a noised query at ε = 1 with the default δ.
const dpQuery = `purpose = "research"
epsilon = 1

correlation {
  x = ["node0.spend_diet_aids"]
  y = ["node1.claims_diabetes"]
}
`

// budgetCluster starts two nodes that admit the querier with the budget
// q gives it (a zero for the default).
func budgetCluster(t *testing.T, q party.QuerierConfig) *partytest.Cluster {
	t.Helper()
	r, i, _ := partytest.World(t, 300, 0.5, 4)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	q.Name = partytest.Querier
	for k := range c.Configs {
		c.Configs[k].Queriers = []party.QuerierConfig{q}
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	return c
}

// TestBudgetDefaults: with the documented defaults (a querier's budget of
// ε = 10, δ = 1e-5; a query's δ of 1e-7) ten queries at ε = 1 run, the
// tenth says the next would be refused, and the eleventh is refused
// because ε runs out, with the budget's exit code.
func TestBudgetDefaults(t *testing.T) {
	c := budgetCluster(t, party.QuerierConfig{})
	if q := c.Configs[0].Queriers[0]; q.Epsilon != 10 || q.Delta != 1e-5 {
		t.Fatalf("the default budget is ε %g, δ %g; docs/configuration.md says 10 and 1e-5", q.Epsilon, q.Delta)
	}
	file := writeFile(t, "query.hcl", dpQuery)
	args := []string{"query", "--node", c.Nodes[0].Addr(), "--file", file, "--tls-dir", filepath.Join(c.PKIDir, partytest.Querier)}
	const next = "another query at ε = 1, δ = 1e-07 would be refused: ε runs out at node0 and node1"
	for n := 1; n <= 10; n++ {
		code, out := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("query %d: exit %d\n%s", n, code, out)
		}
		left := fmt.Sprintf("your privacy budget left: node0 ε %g, δ %.3g; node1", float64(10-n), 1e-5-float64(n)*1e-7)
		if !strings.Contains(out, left) || strings.Contains(out, "would be refused") != (n == 10) {
			t.Fatalf("query %d: the summary does not say %q (or says another would be refused too early):\n%s", n, left, out)
		}
		if n == 10 && !strings.Contains(out, next) {
			t.Fatalf("query 10: the summary does not say %q:\n%s", next, out)
		}
	}
	code, out := runCLI(t, args...)
	if code != exitBudget || !strings.Contains(out, "privacy budget exhausted: ε runs out for researcher") {
		t.Fatalf("query 11: exit %d\n%s", code, out)
	}
}

// TestBudgetDeltaRunsOut: when δ is what runs out, the summary and the
// refusal say so.
func TestBudgetDeltaRunsOut(t *testing.T) {
	c := budgetCluster(t, party.QuerierConfig{Delta: 3e-7}) // three queries at the default δ
	// At ε = 1 three queries leave ε 7 of 10: δ runs out first. (A smaller
	// ε could make the plan infeasible at some padded union sizes.)
	file := writeFile(t, "query.hcl", dpQuery)
	args := []string{"query", "--node", c.Nodes[0].Addr(), "--file", file, "--tls-dir", filepath.Join(c.PKIDir, partytest.Querier)}
	for n := 1; n <= 3; n++ {
		if code, out := runCLI(t, args...); code != exitOK || (n == 3) != strings.Contains(out, "would be refused: δ runs out at node0 and node1") {
			t.Fatalf("query %d: exit %d\n%s", n, code, out)
		}
	}
	code, out := runCLI(t, args...)
	if code != exitBudget || !strings.Contains(out, "privacy budget exhausted: δ runs out for researcher") {
		t.Fatalf("query 4: exit %d\n%s", code, out)
	}
}

// TestBudgetCommandStatus: jointly budget says what is spent, ε or δ.
func TestBudgetCommandStatus(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, "node.hcl", partytest.RetailerHCL(dir)+`querier "researcher" {}
querier "alice" {
  delta = 3e-7
}
querier "bob" {}
`)
	l, err := ledger.Open(filepath.Join(dir, "budget.ledger"), map[string]ledger.Budget{"researcher": {Epsilon: 10, Delta: 1e-5}, "alice": {Epsilon: 10, Delta: 3e-7}})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 10 {
		if _, err := l.Charge("researcher", fmt.Sprintf("r%d", k), "d", 1, 1e-7); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 3 {
		if _, err := l.Charge("alice", fmt.Sprintf("a%d", k), "d", 0.1, 1e-7); err != nil {
			t.Fatal(err)
		}
	}
	anchorLedger(t, dir, l)
	l.Close()
	code, out := runCLI(t, "budget", "--config", path)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"researcher  10              10     0          1e-05         1e-06  9e-06      10       ε spent",
		"δ spent\n", "bob", "ok\n",
		"ε spent: less ε is left than a query may ask (1e-06); δ spent: less δ is left than a query's default δ (1e-07).",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the table does not say %q:\n%s", want, out)
		}
	}
	code, out = runCLI(t, "budget", "--config", path, "--format", "json")
	var accounts []struct {
		Querier, Status string
	}
	if err := json.Unmarshal([]byte(out), &accounts); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	status := map[string]string{}
	for _, a := range accounts {
		status[a.Querier] = a.Status
	}
	if status["researcher"] != "ε spent" || status["alice"] != "δ spent" || status["bob"] != "ok" {
		t.Fatalf("statuses %v", status)
	}
}

// TestBudgetRolledBackLedger: a ledger that lost a charge its audit log
// recorded is not shown with the budget refunded: jointly budget and
// jointly validate refuse it, exit 3, naming jointly budget rebuild.
func TestBudgetRolledBackLedger(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, "node.hcl", partytest.RetailerHCL(dir)+`querier "researcher" {}
`)
	ledgerPath := filepath.Join(dir, "budget.ledger")
	l, err := ledger.Open(ledgerPath, map[string]ledger.Budget{"researcher": {Epsilon: 10, Delta: 1e-5}})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		if _, err := l.Charge("researcher", fmt.Sprintf("query-%08d", k), "d", 1, 1e-7); err != nil {
			t.Fatal(err)
		}
	}
	anchorLedger(t, dir, l)
	l.Close()
	data, err := os.ReadFile(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(ledgerPath, []byte(lines[0]), 0o600); err != nil { // the last charge cut off
		t.Fatal(err)
	}
	for _, args := range [][]string{{"budget", "--config", path}, {"validate", "--config", path}} {
		code, out := runCLI(t, args...)
		if code != exitInput || !strings.Contains(out, "does not match the audit log") || !strings.Contains(out, "jointly budget rebuild") {
			t.Fatalf("%s with a truncated ledger: exit %d\n%s", args[0], code, out)
		}
	}
}
