package party

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
)

// RebuildLedger recovers a node's budget ledger from its audit log, for an
// operator whose ledger was lost or rolled back and who has no copy of it:
// every charge the signed audit log allowed is charged again, in order, in
// a new ledger, and the audit log records the new head (a ledger_anchor
// event), so the node starts with every spent budget spent. The old
// ledger, if any, is kept beside it under a name with the time. The node
// must be stopped (the audit log's lock makes sure).
func RebuildLedger(cfg Config, logger hclog.Logger) (charges int, err error) {
	n, err := New(cfg, logger)
	if err != nil {
		return 0, err
	}
	a, err := n.openAudit()
	if err != nil {
		return 0, n.dataDirInUse(err)
	}
	defer a.Close()
	events, err := readAudit(cfg.AuditPath())
	if err != nil {
		return 0, err
	}
	todo := auditedCharges(events)
	// The configured budgets may have changed since: the charges are facts,
	// recorded whatever the budget is now.
	budgets := map[string]ledger.Budget{}
	for _, c := range todo {
		budgets[c.querier] = ledger.Budget{Epsilon: ledger.MaxEpsilon, Delta: 1}
	}
	path := cfg.LedgerPath()
	if _, err := os.Stat(path); err == nil {
		old := fmt.Sprintf("%s.replaced-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(path, old); err != nil {
			return 0, fmt.Errorf("party: keep the old ledger: %w", err)
		}
		n.logger.Warn("old budget ledger kept", "path", old)
	}
	l, err := ledger.Open(path, budgets)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var head ledger.Head
	for _, c := range todo {
		if head, err = l.Charge(c.querier, c.id, c.digest, c.eps, c.delta); err != nil {
			return 0, fmt.Errorf("party: rebuild the ledger: %w", err)
		}
	}
	if len(todo) > 0 {
		if err := n.recordOn(a, audit.Event{Kind: audit.KindLedgerAnchor, Detail: map[string]string{
			audit.DetailLedgerHead: head.String(), "rebuilt_from_audit_log": fmt.Sprint(len(todo))}}); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}
