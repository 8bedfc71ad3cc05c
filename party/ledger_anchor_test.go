package party_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestLedgerRollbackIsRefused: with a node stopped, its operator deletes
// the budget ledger, cuts one or three charges off its end, or puts back a
// copy from before the last queries. Each would refund spent budget; the
// node refuses to start, naming the ledger and what to do, and starts
// again once the genuine ledger is back.
func TestLedgerRollbackIsRefused(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-7)
	client := c.Dial(t, 0)
	var oldCopy []byte
	for k := range 4 {
		if k == 1 {
			var err error
			if oldCopy, err = os.ReadFile(c.Configs[1].LedgerPath()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.Joint(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	c.StopNode(t, 1)
	cfg := c.Configs[1]
	genuine, err := os.ReadFile(cfg.LedgerPath())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(genuine), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	if len(lines) != 4 {
		t.Fatalf("ledger has %d lines, want 4", len(lines))
	}
	for _, tc := range []struct {
		name string
		data *string // nil: the file is deleted
	}{
		{"deleted", nil},
		{"truncated by 1", ptr(strings.Join(lines[:3], ""))},
		{"truncated by 3", ptr(strings.Join(lines[:1], ""))},
		{"old copy", ptr(string(oldCopy))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(cfg.LedgerPath())
			if tc.data != nil {
				if err := os.WriteFile(cfg.LedgerPath(), []byte(*tc.data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// The offline check (jointly validate, jointly budget) finds
			// it too, and writes nothing: a deleted ledger stays deleted.
			check := cfg.CheckLedger()
			if _, err := os.Stat(cfg.LedgerPath()); tc.data == nil && err == nil {
				t.Fatal("CheckLedger created the ledger")
			}
			node, err := party.New(cfg, hclog.NewNullLogger(), party.WithDataset(i))
			if err != nil {
				t.Fatal(err)
			}
			err = node.Start(context.Background())
			node.Close()
			for _, err := range []error{err, check} {
				if !errors.Is(err, ledger.ErrRolledBack) {
					t.Fatalf("the ledger %s: %v, want ErrRolledBack", tc.name, err)
				}
				for _, want := range []string{cfg.LedgerPath(), cfg.AuditPath(), "will not serve queries", "put back the ledger file", "jointly budget rebuild"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
		})
	}
	// The genuine ledger back: the node starts, the budget is as spent.
	if err := os.WriteFile(cfg.LedgerPath(), genuine, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckLedger(); err != nil {
		t.Fatalf("the genuine ledger: %v", err)
	}
	// Deleting the audit log instead would erase the anchors: refused too.
	auditLog, err := os.ReadFile(cfg.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(cfg.AuditPath())
	if err := cfg.CheckLedger(); err == nil || !strings.Contains(err.Error(), "will not serve queries") {
		t.Fatalf("the offline check without the audit log: %v", err)
	}
	node, err := party.New(cfg, hclog.NewNullLogger(), party.WithDataset(i))
	if err != nil {
		t.Fatal(err)
	}
	err = node.Start(context.Background())
	node.Close()
	if err == nil || !strings.Contains(err.Error(), "audit log") || !strings.Contains(err.Error(), "will not serve queries") {
		t.Fatalf("start without the audit log: %v", err)
	}
	if err := os.WriteFile(cfg.AuditPath(), auditLog, 0o600); err != nil {
		t.Fatal(err)
	}
	c.StartNode(t, 1)
	c.WaitSetup(t)
	acct, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
	if err != nil || acct[0].Charges != 4 || acct[0].Spent.Epsilon != 4 {
		t.Fatalf("ledger after restore: %+v, %v", acct, err)
	}
	if _, err := client.Joint(context.Background(), req); err != nil {
		t.Fatalf("query after the genuine ledger is back: %v", err)
	}

	// A rebuild while the node runs is refused, saying so.
	if _, err := party.RebuildLedger(cfg, hclog.NewNullLogger()); !errors.Is(err, party.ErrNotReady) || !strings.Contains(err.Error(), "another jointly node is running with data_dir") {
		t.Fatalf("rebuild while the node runs: %v", err)
	}
	// Without a copy, the operator rebuilds the ledger from the audit log:
	// every charge is back, and the node starts.
	c.StopNode(t, 1)
	if err := os.WriteFile(cfg.LedgerPath(), []byte(lines[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := party.RebuildLedger(cfg, hclog.NewNullLogger())
	if err != nil || n != 5 {
		t.Fatalf("rebuild: %d charges, %v", n, err)
	}
	acct, err = ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
	if err != nil || acct[0].Charges != 5 || acct[0].Spent.Epsilon != 5 {
		t.Fatalf("rebuilt ledger: %+v, %v", acct, err)
	}
	if old, _ := filepath.Glob(cfg.LedgerPath() + ".replaced-*"); len(old) != 1 {
		t.Fatalf("the replaced ledger was not kept: %v", old)
	}
	node, err = party.New(cfg, hclog.NewNullLogger(), party.WithDataset(i))
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(context.Background()); err != nil {
		t.Fatalf("start on the rebuilt ledger: %v", err)
	}
	node.Close()
}

func ptr[T any](v T) *T { return &v }
