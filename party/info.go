package party

import (
	"context"
	"slices"

	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
	"github.com/jointly-dev/jointly/party/source"
)

// NodeInfo describes a node as its Info call reports it.
type NodeInfo struct {
	Node, Federation, Preset, Version string
	Owners, Columns                   []string
	SetupDone                         bool
	// Bounds are the declared [lo, hi] of each column, for a node whose
	// data declares them.
	Bounds map[string][2]float64
	// Levels are the levels of each categorical column, whose values are
	// the levels' indices.
	Levels map[string][]string
	// Budget is the caller's privacy budget at the node: nil unless the
	// caller is a querier the node admits.
	Budget *QuerierBudget
}

// QuerierBudget is a querier's privacy budget at one node: its lifetime
// budget and what is left of it.
type QuerierBudget struct {
	Querier      string
	Budget, Left ledger.Budget
}

// info describes the node to its caller; a querier it admits (by its
// certificate, or by the name it claims in loopback development) learns
// its budget too.
func (n *Node) info(ctx context.Context, claimed string) *NodeInfo {
	n.keyMu.RLock()
	done := n.keys != nil
	n.keyMu.RUnlock()
	i := &NodeInfo{Node: n.cfg.Name, Federation: n.cfg.Federation, Preset: n.cfg.Preset, Version: Version,
		Owners: n.cfg.Owners(), Columns: n.data.Columns(), SetupDone: done}
	if b, ok := n.data.(bounder); ok {
		i.Bounds = map[string][2]float64{}
		for _, c := range i.Columns {
			lo, hi, _ := b.ColumnBounds(c)
			i.Bounds[c] = [2]float64{lo, hi}
		}
	}
	for c, levels := range n.cfg.ColumnLevels() {
		if slices.Contains(i.Columns, c) {
			if i.Levels == nil {
				i.Levels = map[string][]string{}
			}
			i.Levels[c] = levels
		}
	}
	i.Budget = n.callerBudget(ctx, claimed)
	return i
}

// callerBudget is the budget of the querier calling: the certificate's
// identity with mutual TLS, the claimed name otherwise. Nil for a caller
// that is no querier of this node.
func (n *Node) callerBudget(ctx context.Context, claimed string) *QuerierBudget {
	name := claimed
	if n.cfg.TLSDir != "" {
		id, err := pki.IdentityFromContext(ctx)
		if err != nil || id.Role != pki.RoleQuerier {
			return nil
		}
		name = id.Name
	}
	budget, ok := n.cfg.budgets()[name]
	if !ok || n.gov == nil {
		return nil
	}
	return &QuerierBudget{Querier: name, Budget: budget, Left: n.gov.ledger.Remaining(name)}
}

// ColumnLevels returns the levels of the source's categorical columns
// (those left after the policy's exclusions), by column name.
func (c *Config) ColumnLevels() map[string][]string {
	if c.Source == nil {
		return nil
	}
	out := map[string][]string{}
	for _, col := range c.Source.Columns {
		if col.Type == source.TypeCategorical {
			out[col.Name] = slices.Clone(col.Levels)
		}
	}
	return out
}
