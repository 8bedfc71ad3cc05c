package party

import (
	"context"
	"slices"

	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
)

// NodeInfo describes a node as its Info call reports it.
type NodeInfo struct {
	Node, Federation, Preset, Version string
	Owners, Columns                   []string
	SetupDone                         bool
	// Bounds are the declared [lo, hi] of each column, for a node whose
	// data declares them.
	Bounds map[string][2]float64
	// Steps are the declared resolutions of the columns that have one.
	Steps map[string]float64
	// Levels are the levels of each categorical column, whose values are
	// the levels' indices.
	Levels map[string][]string
	// Units are the declared units of the columns that have one.
	Units map[string]string
	// Estimated says how the node estimated the bounds of the columns
	// declared with auto_bounds; their Bounds are the estimate.
	Estimated map[string]BoundsEstimate
	// Tags are the declared tags of the columns that have some, which the
	// node's purpose rules restrict (rules.go).
	Tags map[string][]string
	// MinGroupSize is the node's release threshold (policy
	// min_group_size).
	MinGroupSize int
	// Segmenting are the purposes the node declares segmenting, and
	// ProxyThreshold its threshold on the association of a grouping
	// column with a protected one for them (policy segmenting,
	// proxy_threshold; proxy.go).
	Segmenting     []string
	ProxyThreshold float64
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
		Owners: n.cfg.Owners(), Columns: n.data.Columns(), SetupDone: done, MinGroupSize: n.cfg.Policy.MinGroupSize,
		Segmenting: slices.Clone(n.cfg.Policy.Segmenting), ProxyThreshold: n.cfg.Policy.proxyThreshold()}
	if b, ok := n.data.(bounder); ok {
		i.Bounds = map[string][2]float64{}
		for _, c := range i.Columns {
			lo, hi, _ := b.ColumnBounds(c)
			i.Bounds[c] = [2]float64{lo, hi}
			if s := b.ColumnStep(c); s > 0 {
				put(&i.Steps, c, s)
			}
		}
	}
	if d, ok := n.data.(describer); ok {
		for _, c := range i.Columns {
			if levels := d.ColumnLevels(c); len(levels) > 0 {
				put(&i.Levels, c, slices.Clone(levels))
			}
			if unit := d.ColumnUnit(c); unit != "" {
				put(&i.Units, c, unit)
			}
		}
	}
	if e, ok := n.data.(estimator); ok {
		for _, c := range i.Columns {
			if est, ok := e.BoundsEstimate(c); ok {
				put(&i.Estimated, c, est)
			}
		}
	}
	if tg, ok := n.data.(tagger); ok {
		for _, c := range i.Columns {
			if tags := tg.ColumnTags(c); len(tags) > 0 {
				put(&i.Tags, c, slices.Clone(tags))
			}
		}
	}
	i.Budget = n.callerBudget(ctx, claimed)
	return i
}

// put sets (*m)[k] = v, making the map on first use: a column map stays
// nil when no column has the property.
func put[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}

// estimator is implemented by datasets whose bounds the node may have
// estimated (Table).
type estimator interface {
	BoundsEstimate(column string) (BoundsEstimate, bool)
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

// describer is implemented by datasets that declare the levels of their
// categorical columns and the units of their numeric ones (Table).
type describer interface {
	ColumnLevels(column string) []string
	ColumnUnit(column string) string
}
