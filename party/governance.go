package party

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
)

const (
	auditFile  = "audit.log"
	ledgerFile = "budget.ledger"
	auditKey   = "keys/audit.key"
)

// governance holds a node's audit log, budget ledger and noise sampler.
type governance struct {
	audit  *audit.Log
	ledger *ledger.Ledger
	// witness keeps the peers' audit heads (witness.go); lost is, per
	// peer, the head of this node's log it recorded as lost (audit_loss).
	witness *witness
	lost    map[string]audit.Head

	mu      sync.Mutex
	sampler *dp.Sampler

	stop      chan struct{} // closed by close: stops the expiry of pending queries
	done      chan struct{}
	closeOnce sync.Once
}

// budgets returns the configured querier budgets for the ledger.
func (c *Config) budgets() map[string]ledger.Budget {
	b := make(map[string]ledger.Budget, len(c.Queriers))
	for _, q := range c.Queriers {
		b[q.Name] = ledger.Budget{Epsilon: q.Epsilon, Delta: q.Delta}
	}
	return b
}

// ledgerBudgets are the budgets the ledger holds: every querier's, and
// the owner's own account (OwnerAccount), from which estimating
// automatic bounds is paid.
func (c *Config) ledgerBudgets() map[string]ledger.Budget {
	b := c.budgets()
	owner := float64(DefaultOwnerEpsilon)
	if c.Policy != nil && c.Policy.OwnerEpsilon > 0 {
		owner = c.Policy.OwnerEpsilon
	}
	b[OwnerAccount] = ledger.Budget{Epsilon: owner}
	return b
}

// LedgerBudgets returns the budgets of every account of the node's ledger:
// each querier's and the owner's own (OwnerAccount).
func (c *Config) LedgerBudgets() map[string]ledger.Budget { return c.ledgerBudgets() }

// AutoBounds reports whether the node estimates the bounds of a column.
func (c *Config) AutoBounds() bool {
	if c.Source == nil {
		return false
	}
	for _, col := range c.Source.Columns {
		if col.AutoBounds != nil {
			return true
		}
	}
	return false
}

// LedgerPath is where a node with this configuration keeps its budget ledger.
func (c *Config) LedgerPath() string { return filepath.Join(c.DataDir, ledgerFile) }

// AuditPath is where a node with this configuration keeps its audit log.
func (c *Config) AuditPath() string { return filepath.Join(c.DataDir, auditFile) }

// Budgets returns the configured budgets of every querier.
func (c *Config) Budgets() map[string]ledger.Budget { return c.budgets() }

// openGovernance opens the audit log and the budget ledger.
func (n *Node) openGovernance() error {
	var events []audit.Event
	a, err := n.openAudit(audit.WithReplay(func(ev audit.Event) error {
		events = append(events, ev)
		return nil
	}))
	if err != nil {
		return err
	}
	l, err := n.openLedger(a, events)
	if err != nil {
		a.Close()
		return err
	}
	if err := n.abortUnfinished(a, events); err != nil {
		l.Close()
		a.Close()
		return err
	}
	w, err := loadWitness(n.cfg.witnessPath())
	if err != nil {
		l.Close()
		a.Close()
		return err
	}
	g := &governance{audit: a, ledger: l, witness: w, lost: lostHeads(events), sampler: dp.NewSampler(nil), stop: make(chan struct{}), done: make(chan struct{})}
	n.gov = g
	go func() {
		defer close(g.done)
		n.expireLoop(g.stop)
	}()
	return nil
}

// openAudit opens the audit log, signed with the node's TLS key, or a
// local key in loopback development.
func (n *Node) openAudit(opts ...audit.Option) (*audit.Log, error) {
	var signer ed25519.PrivateKey
	if n.cfg.TLSDir != "" {
		k, err := pki.LoadSigner(n.cfg.TLSDir, n.cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("party: audit signer: %w", err)
		}
		signer = k
	} else {
		seed, err := n.loadOrCreate(auditKey, func() ([]byte, error) {
			s := make([]byte, ed25519.SeedSize)
			_, err := rand.Read(s)
			return s, err
		})
		if err != nil {
			return nil, err
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("party: %s is corrupt", auditKey)
		}
		signer = ed25519.NewKeyFromSeed(seed)
	}
	a, err := audit.Open(n.cfg.AuditPath(), signer, append(opts, audit.WithLogger(n.logger))...)
	if err != nil {
		return nil, fmt.Errorf("party: audit log: %w", err)
	}
	return a, nil
}

// openLedger opens the budget ledger and checks it against the audit log
// a: the ledger must hold the last head the audit log recorded and every
// charge the audit log allowed. Removing charges (deleting the ledger,
// cutting lines off its end, putting back an older copy) would refund
// spent budget, so the node refuses to start then. Charges the audit log
// has not recorded yet (a crash between a charge and its decision record)
// are anchored with a ledger_anchor event.
func (n *Node) openLedger(a *audit.Log, events []audit.Event) (*ledger.Ledger, error) {
	anchor, err := n.cfg.ledgerAnchor(events)
	if err != nil {
		return nil, err
	}
	opts := []ledger.Option{ledger.WithLogger(n.logger)}
	if anchor != nil {
		opts = append(opts, ledger.WithAnchor(*anchor))
	}
	l, err := ledger.Open(n.cfg.LedgerPath(), n.cfg.ledgerBudgets(), opts...)
	if errors.Is(err, ledger.ErrRolledBack) {
		return nil, n.cfg.rolledBack(err)
	}
	if err != nil {
		return nil, fmt.Errorf("party: budget ledger: %w", err)
	}
	if err := n.cfg.checkLedgerHolds(l, l.Head(), events); err != nil {
		l.Close()
		return nil, err
	}
	head := l.Head()
	if head.Seq == 0 || (anchor != nil && anchor.Seq == head.Seq) {
		return l, nil
	}
	from := uint64(0)
	if anchor != nil {
		from = anchor.Seq
	}
	n.logger.Named("ledger").Warn("budget ledger has charges the audit log did not record; anchoring them", "from", from, "to", head.Seq)
	if err := n.recordOn(a, audit.Event{Kind: audit.KindLedgerAnchor, Detail: map[string]string{
		audit.DetailLedgerHead: head.String(), "unanchored_charges": fmt.Sprint(head.Seq - from)}}); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (g *governance) close() {
	if g == nil {
		return
	}
	g.closeOnce.Do(func() {
		close(g.stop)
		<-g.done
		g.ledger.Close()
		g.audit.Close()
	})
}

// record appends an audit event; the event is fsynced before the action it
// records happens.
func (n *Node) record(ev audit.Event) error { return n.recordOn(n.gov.audit, ev) }

func (n *Node) recordOn(a *audit.Log, ev audit.Event) error {
	ev.Actor = n.cfg.Name
	if err := a.Append(ev); err != nil {
		return fmt.Errorf("party: audit: %w", err)
	}
	return nil
}

// querierName resolves who is asking: the certificate's name with mutual
// TLS (the claim in the query must match it or be empty), the claim
// otherwise (loopback development).
func (n *Node) querierName(ctx context.Context, claimed string) (string, error) {
	if n.cfg.TLSDir == "" {
		if claimed == "" {
			return "", fmt.Errorf("%w: the query names no querier", ErrBadRequest)
		}
		return claimed, nil
	}
	id, err := pki.IdentityFromContext(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnknownParty, err)
	}
	if claimed != "" && claimed != id.Name {
		return "", fmt.Errorf("%w: %s cannot query as %q", ErrUnknownParty, id, claimed)
	}
	return id.Name, nil
}

// policyRefusal returns why this owner's policy refuses q over its
// columns, or "" when the policy admits it, and what the audit records of
// a refusal besides its reason (the rule a query breaks).
func (n *Node) policyRefusal(q *Query, columns []string) (reason string, detail map[string]string) {
	pol := n.cfg.Policy
	if !slices.Contains(pol.Purposes, q.Purpose) {
		return fmt.Sprintf("purpose %q is not allowed (allowed: %s)", q.Purpose, strings.Join(pol.Purposes, ", ")), nil
	}
	if !slices.ContainsFunc(n.cfg.Queriers, func(qc QuerierConfig) bool { return qc.Name == q.Querier }) {
		if _, peer := n.cfg.peerAddress(q.Querier); peer || q.Querier == n.cfg.Name {
			return fmt.Sprintf("querier %q is not allowed: that is a node of the federation, which queries only if a querier block names it (a researcher connects with a certificate issued with --role querier)", q.Querier), nil
		}
		return fmt.Sprintf("querier %q is not allowed: no querier block names it", q.Querier), nil
	}
	for _, c := range columns {
		if slices.Contains(pol.Exclude, c) {
			return fmt.Sprintf("column %q is excluded by policy", c), nil
		}
	}
	if v := n.ruleViolation(q); v != nil {
		return v.reason(), v.detail()
	}
	if q.Exact {
		if !pol.AllowExact {
			return "exact (noise-free) queries are not allowed", nil
		}
	} else if err := dp.CheckBudget(q.Epsilon, q.Delta); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

// planRefusal is why this owner would refuse q, for a querier's planner:
// its policy, or the querier's budget here, checked without charging.
func (n *Node) planRefusal(q *Query, columns []string) (reason string, detail map[string]string) {
	if reason, detail := n.policyRefusal(q, columns); reason != "" {
		return reason, detail
	}
	if q.Exact {
		return "", nil
	}
	// The id only matters to a charge; a plan checks the amount.
	err := n.gov.ledger.Check(q.Querier, cmp.Or(q.ID, "planned-query"), "", q.Epsilon, q.Delta)
	if errors.Is(err, ledger.ErrBudgetExhausted) {
		return strings.TrimPrefix(err.Error(), "ledger: "), nil
	}
	return "", nil
}

// refuse records that this owner refused q and returns the refusal.
func (n *Node) refuse(q *Query, reason string) error { return n.refusal(q, reason, nil, false) }

// refusal records that this owner refused q and returns the refusal;
// detail adds to the audit record (the rule broken), budget marks one
// because the querier's budget cannot pay for q.
func (n *Node) refusal(q *Query, reason string, detail map[string]string, budget bool) error {
	d := map[string]string{audit.DetailDecision: audit.DecisionRefuse, audit.DetailReason: reason}
	maps.Copy(d, detail)
	if err := n.record(audit.Event{Kind: audit.KindPolicyDecision, Querier: q.Querier, Purpose: q.Purpose, QueryID: q.ID, Detail: d}); err != nil {
		return err
	}
	n.logger.Named("policy").Info("query refused", "query", q.ID, "querier", q.Querier, "reason", reason)
	return &RefusalError{Owner: n.cfg.Name, Reason: reason, Budget: budget}
}

// ledgerRefusal turns the budget ledger's answer to a check or a charge
// into a recorded refusal (or returns a failure of the ledger itself).
func (n *Node) ledgerRefusal(q *Query, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrQueryIDUsed):
		return n.refuse(q, fmt.Sprintf("one charge buys one release: %v; a retry is a new query with a new id, charged again", err))
	case errors.Is(err, ledger.ErrQueryIDReused):
		return n.refuse(q, fmt.Sprintf("a query id names one query: %v", err))
	case errors.Is(err, ledger.ErrBudgetExhausted):
		// The ledger's words, without its package prefix: "privacy budget
		// exhausted: δ runs out for …", with what is left.
		return n.refusal(q, strings.TrimPrefix(err.Error(), "ledger: "), nil, true)
	case errors.Is(err, ledger.ErrUnknownQuerier):
		return n.refuse(q, fmt.Sprintf("privacy budget: %v", err))
	}
	return fmt.Errorf("party: budget ledger: %w", err)
}

// admitQuery is this owner's admission round for q: every rule of its
// policy and the querier's budget are checked, and nothing is charged.
// Every step is in the audit log before it takes effect; a refusal names
// the reason.
func (n *Node) admitQuery(q *Query, columns []string) error {
	if err := n.gov.witness.rolledBack(); err != nil {
		return err
	}
	detail := map[string]string{"columns": strings.Join(columns, ","), "kind": q.kind()}
	if q.Exact {
		detail["exact"] = "true"
	}
	if err := n.record(audit.Event{Kind: audit.KindQueryReceived, Querier: q.Querier, Purpose: q.Purpose, Epsilon: q.Epsilon, Delta: q.Delta, QueryID: q.ID, Detail: detail}); err != nil {
		return err
	}
	if reason, detail := n.policyRefusal(q, columns); reason != "" {
		return n.refusal(q, reason, detail, false)
	}
	if reason, detail := n.proxyRefusal(q); reason != "" {
		return n.refusal(q, reason, detail, false)
	}
	if err := n.ledgerRefusal(q, n.gov.ledger.Check(q.Querier, q.ID, hex.EncodeToString(q.admitted), q.Epsilon, q.Delta)); err != nil {
		return err
	}
	return n.record(audit.Event{Kind: audit.KindPolicyDecision, Querier: q.Querier, Purpose: q.Purpose, QueryID: q.ID,
		Detail: map[string]string{audit.DetailDecision: audit.DecisionAdmit}})
}

// chargeQuery charges q to the querier's budget once every owner admitted
// it, and registers it as pending for evaluator. The charge is on stable
// storage, and its allow decision in the audit log, before it returns.
func (n *Node) chargeQuery(q *Query, columns []string, evaluator string) error {
	if err := n.gov.witness.rolledBack(); err != nil {
		return err
	}
	if reason, detail := n.policyRefusal(q, columns); reason != "" {
		return n.refusal(q, reason, detail, false)
	}
	if reason, detail := n.proxyRefusal(q); reason != "" {
		return n.refusal(q, reason, detail, false)
	}
	if err := n.queries.charge(q, evaluator, time.Now()); err != nil {
		return err
	}
	head, err := n.gov.ledger.Charge(q.Querier, q.ID, hex.EncodeToString(q.admitted), q.Epsilon, q.Delta)
	if err != nil {
		n.queries.drop(q.ID)
		return n.ledgerRefusal(q, err)
	}
	rem := n.gov.ledger.Remaining(q.Querier)
	return n.record(audit.Event{Kind: audit.KindPolicyDecision, Querier: q.Querier, Purpose: q.Purpose, Epsilon: q.Epsilon, Delta: q.Delta, QueryID: q.ID,
		Detail: map[string]string{audit.DetailDecision: audit.DecisionAllow, "remaining_epsilon": fmt.Sprintf("%.6g", rem.Epsilon),
			audit.DetailLedgerHead: head.String(), "query_digest": hex.EncodeToString(q.admitted)}})
}

// abortQuery records that the charged query id stopped before its result
// was released, and forgets it: nothing more is released for it, and its
// charge stands.
func (n *Node) abortQuery(id string, cause error) {
	p, ok := n.queries.drop(id)
	if !ok {
		return // released, or already aborted
	}
	n.recordAbort(p.id, p.querier, p.purpose, abortReason(cause))
}

// abortPeerQuery is a y owner's side of Abort: the evaluator of a query
// this node charged says it stopped.
func (n *Node) abortPeerQuery(id, evaluator, reason string) {
	if p, ok := n.queries.dropFor(id, evaluator); ok {
		n.recordAbort(p.id, p.querier, p.purpose, fmt.Sprintf("%s stopped the query: %s", evaluator, reason))
	}
}

// recordAbort appends the query_aborted event of a charged query.
func (n *Node) recordAbort(id, querier, purpose, reason string) {
	err := n.record(audit.Event{Kind: audit.KindQueryAborted, Querier: querier, Purpose: purpose, QueryID: id,
		Detail: map[string]string{audit.DetailReason: reason}})
	log := n.logger.Named("policy")
	if err != nil {
		log.Error("cannot record an aborted query", "query", id, "error", err)
		return
	}
	log.Info("charged query aborted; its charge stands", "query", id, "querier", querier, "reason", reason)
}

// abortReason words why a charged query stopped, for the audit log and
// the transparency report: the refusing owner and its reason, or the
// failure.
func abortReason(err error) string {
	var r *RefusalError
	switch {
	case errors.As(err, &r):
		return fmt.Sprintf("refused by %s: %s", r.Owner, r.Reason)
	case errors.Is(err, context.Canceled):
		return "the querier went away before the result was released"
	}
	return err.Error()
}

// expirePending aborts the charged queries that have waited longer than
// the node's query lifetime for their next step (an evaluator that
// stopped, a querier that went away).
func (n *Node) expirePending(now time.Time) {
	for _, p := range n.queries.expire(now.Add(-n.queryTTL())) {
		n.recordAbort(p.id, p.querier, p.purpose, fmt.Sprintf("no release within %v of the charge", n.queryTTL()))
	}
}

// queryTTL is how long a charged query may wait for its next step.
func (n *Node) queryTTL() time.Duration {
	if n.opts.queryTTL > 0 {
		return n.opts.queryTTL
	}
	return n.cfg.MatchTimeout + 2*n.cfg.RPCTimeout + 10*time.Minute
}

// expireLoop runs expirePending until stop is closed.
func (n *Node) expireLoop(stop <-chan struct{}) {
	every := min(n.queryTTL()/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			n.expirePending(now)
		}
	}
}

// abortUnfinished records, at start, every query the audit log shows
// charged and neither released nor aborted: no query survives a restart,
// so the node stopped (or crashed) while it ran.
func (n *Node) abortUnfinished(a *audit.Log, events []audit.Event) error {
	type charged struct{ querier, purpose string }
	open := map[string]charged{}
	var order []string
	for _, ev := range events {
		switch {
		case ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionAllow:
			if _, ok := open[ev.QueryID]; !ok {
				order = append(order, ev.QueryID)
			}
			open[ev.QueryID] = charged{ev.Querier, ev.Purpose}
		case ev.Kind == audit.KindQueryAborted,
			ev.Kind == audit.KindRelease && (ev.Detail[audit.DetailStage] == "" || ev.Detail[audit.DetailStage] == audit.StageResult):
			delete(open, ev.QueryID)
		}
	}
	for _, id := range order {
		c, ok := open[id]
		if !ok {
			continue
		}
		delete(open, id)
		if err := n.recordOn(a, audit.Event{Kind: audit.KindQueryAborted, Querier: c.querier, Purpose: c.purpose, QueryID: id,
			Detail: map[string]string{audit.DetailReason: "the node stopped before the query completed"}}); err != nil {
			return err
		}
		n.logger.Named("policy").Info("query charged before the node stopped is recorded as aborted", "query", id, "querier", c.querier)
	}
	return nil
}

// noise draws discrete Gaussian noise of standard deviation sigma from
// crypto/rand.
func (n *Node) noise(sigma float64) (int64, error) {
	if sigma == 0 {
		return 0, nil
	}
	s2, err := dp.Sigma2(sigma)
	if err != nil {
		return 0, err
	}
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	return n.gov.sampler.DiscreteGaussian(s2)
}

// readAudit reads the events of the audit log at path (which Open has
// verified).
func readAudit(path string) ([]audit.Event, error) {
	events, _, err := audit.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("party: audit log: %w", err)
	}
	return events, nil
}

// auditedCharge is a charge an allow decision of the audit log records.
type auditedCharge struct {
	querier, id, digest string
	eps, delta          float64
}

// auditedCharges lists the charges the audit log records, in order, once
// per query id (the ledger charges an id once): the allow decisions of
// queries, the owner's estimates of automatic bounds and its releases of
// the consent counts.
// ledgerAnchor is the last ledger head the audit log recorded, if any.
func (c *Config) ledgerAnchor(events []audit.Event) (*ledger.Head, error) {
	var anchor *ledger.Head
	for _, ev := range events {
		if s, ok := ev.Detail[audit.DetailLedgerHead]; ok {
			h, err := ledger.ParseHead(s)
			if err != nil {
				return nil, fmt.Errorf("party: audit log %s, line %d: %w", c.AuditPath(), ev.Seq, err)
			}
			anchor = &h
		}
	}
	return anchor, nil
}

// rolledBack is the error of a ledger that lost charges its audit log
// recorded.
func (c *Config) rolledBack(err error) error {
	return fmt.Errorf("party: the budget ledger %s does not match the audit log %s: %w. "+
		"Charges were removed from the ledger (deleted, truncated or replaced by an older copy), which would refund spent privacy budget, "+
		"so this node will not serve queries: put back the ledger file that belongs with this audit log, "+
		"or, with the node stopped, rebuild it from the audit log's charges with `jointly budget rebuild --config FILE`", c.LedgerPath(), c.AuditPath(), err)
}

// checkLedgerHolds checks that a ledger whose head is head holds every
// charge the audit log's events allowed, and that an audit log that lost
// every event does not stand beside charges.
func (c *Config) checkLedgerHolds(l interface{ Charged(querier, id string) bool }, head ledger.Head, events []audit.Event) error {
	for _, ch := range auditedCharges(events) {
		if !l.Charged(ch.querier, ch.id) {
			return c.rolledBack(fmt.Errorf("%w: the audit log allowed query %s of %s, the ledger has no charge for it", ledger.ErrRolledBack, ch.id, ch.querier))
		}
	}
	if head.Seq > 0 && len(events) == 0 {
		return fmt.Errorf("party: the budget ledger %s holds %d charges but the audit log %s is empty: the audit log was deleted or replaced; "+
			"this node will not serve queries until the audit log that belongs with this ledger is back", c.LedgerPath(), head.Seq, c.AuditPath())
	}
	return nil
}

// CheckLedger makes the node's start-up check of its budget ledger
// against its audit log without writing or locking anything (a running
// node may hold both): every charge the audit log recorded must be in the
// ledger. jointly validate and jointly budget call it, so that a ledger
// that lost charges is not shown with refunded budget.
func (c *Config) CheckLedger() error {
	events, _, err := audit.ReadFile(c.AuditPath())
	if errors.Is(err, fs.ErrNotExist) {
		events, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("party: audit log %s: %w", c.AuditPath(), err)
	}
	anchor, err := c.ledgerAnchor(events)
	if err != nil {
		return err
	}
	in, err := ledger.Inspect(c.LedgerPath())
	if err != nil {
		return fmt.Errorf("party: budget ledger %s: %w", c.LedgerPath(), err)
	}
	if anchor != nil {
		if err := in.HasAnchor(*anchor); err != nil {
			return c.rolledBack(err)
		}
	}
	return c.checkLedgerHolds(in, in.Head(), events)
}

func auditedCharges(events []audit.Event) []auditedCharge {
	var out []auditedCharge
	seen := map[string]bool{}
	for _, ev := range events {
		var c auditedCharge
		switch {
		case ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionAllow:
			c = auditedCharge{ev.Querier, ev.QueryID, ev.Detail["query_digest"], ev.Epsilon, ev.Delta}
		case (ev.Kind == audit.KindBoundsEstimated || ev.Kind == audit.KindConsentCounted) && ev.Detail[audit.DetailCharge] != "":
			c = auditedCharge{OwnerAccount, ev.Detail[audit.DetailCharge], ev.Detail["params_digest"], ev.Epsilon, 0}
		default:
			continue
		}
		if seen[c.id] {
			continue
		}
		seen[c.id] = true
		out = append(out, c)
	}
	return out
}
