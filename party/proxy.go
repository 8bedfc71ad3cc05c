package party

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Proxy checks (docs/governance.md, "Proxy checks"). An owner declares
// which of its purposes segment people and how strongly a grouping column
// may be associated with a protected one:
//
//	policy {
//	  purposes        = ["research", "underwriting", "pricing"]
//	  segmenting      = ["underwriting", "pricing"]
//	  proxy_threshold = 0.3
//	}
//
// For a query of such a purpose the evaluating node adds to the query the
// association of every grouping column (a rate's by, either axis of a
// contingency table, a regression's predictors) with every column an
// owner of the query tags "protected", and the owners that declared the
// purpose segmenting with their thresholds (guards). Every owner checks at
// admission that its own guard is there, and that every grouping column
// is checked against each of its own protected columns. The associations
// are released in stage one with DP noise (aggregate/proxy.go); each owner
// with a guard computes them from the stage-one values and refuses, before
// it releases anything of stage two, when one exceeds its threshold.

// TagProtected is the tag of the columns the proxy checks protect.
const TagProtected = "protected"

// DefaultProxyThreshold is the threshold of an owner that declares
// segmenting purposes without proxy_threshold: an association of 0.3 is a
// moderate one (r² = 0.09), well above what DP noise leaves of none at the
// sizes a segmenting query runs over.
const DefaultProxyThreshold = 0.3

// ProxyGuard is an owner that declares a query's purpose segmenting, with
// its threshold.
type ProxyGuard struct {
	Owner     string
	Threshold float64
}

// proxyThreshold is the policy's threshold, 0 without segmenting purposes.
func (p *PolicyConfig) proxyThreshold() float64 {
	switch {
	case len(p.Segmenting) == 0:
		return 0
	case p.ProxyThreshold == 0:
		return DefaultProxyThreshold
	}
	return p.ProxyThreshold
}

// segments returns the threshold of a purpose the policy declares
// segmenting.
func (p *PolicyConfig) segments(purpose string) (float64, bool) {
	if !slices.Contains(p.Segmenting, purpose) {
		return 0, false
	}
	return p.proxyThreshold(), true
}

// validateProxy checks segmenting and proxy_threshold: every segmenting
// purpose is a purpose of the policy, once, and the threshold lies in
// (0, 1].
func (c *Config) validateProxy() error {
	pol := c.Policy
	seen := map[string]bool{}
	for _, p := range pol.Segmenting {
		if !slices.Contains(pol.Purposes, p) {
			return c.errorf(pol.Body, "segmenting", "%q is not a purpose of the policy (purposes: %s)", p, strings.Join(pol.Purposes, ", "))
		}
		if seen[p] {
			return c.errorf(pol.Body, "segmenting", "%q is listed twice", p)
		}
		seen[p] = true
	}
	if pol.ProxyThreshold != 0 && len(pol.Segmenting) == 0 {
		return c.errorf(pol.Body, "proxy_threshold", "a proxy threshold needs segmenting purposes to apply to, such as segmenting = [\"underwriting\"]")
	}
	if t := pol.ProxyThreshold; math.IsNaN(t) || t < 0 || t > 1 {
		return c.errorf(pol.Body, "proxy_threshold", "must lie in (0, 1] (left out: %g), not %g", DefaultProxyThreshold, t)
	}
	return nil
}

// groupingColumns lists the columns a joint query groups or scores people
// by: the correlations' by, every rate's by, both axes of every
// contingency table, and every regression's predictors, once each, in
// query order.
func groupingColumns(j *JointQuery) []aggregate.ColumnRef {
	var out []aggregate.ColumnRef
	add := func(r aggregate.ColumnRef) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if j.Correlations && j.CorrelationBy != (aggregate.ColumnRef{}) {
		add(j.CorrelationBy)
	}
	for _, r := range j.Rates {
		add(r.By)
	}
	for _, ct := range j.Contingencies {
		add(ct.X)
		add(ct.Y)
	}
	for _, rg := range j.Regressions {
		for _, p := range rg.Predictors {
			add(p)
		}
	}
	return out
}

// ownRef reports whether ref is one of owner's columns in j (a pool's y
// columns are each pooled owner's).
func (j *JointQuery) ownRef(owner string, ref aggregate.ColumnRef) bool {
	return ref.Owner == owner || (j.Pool != nil && ref.Owner == j.Pool.Name && slices.Contains(j.Pool.Owners, owner))
}

// protectedColumns lists this node's columns tagged protected.
func (n *Node) protectedColumns() []string {
	tg, ok := n.data.(tagger)
	if !ok {
		return nil
	}
	var out []string
	for _, c := range n.data.Columns() {
		if slices.Contains(tg.ColumnTags(c), TagProtected) {
			out = append(out, c)
		}
	}
	return out
}

// fillProxyChecks is the evaluating node's part: it asks every y owner
// whether it declares the query's purpose segmenting and which of its
// columns are protected, and for a purpose some owner declares segmenting
// sets the guards and the proxy checks of every grouping column against
// every protected column, adding each protected column to the query with
// its owner's declaration. Whatever the querier sent there is replaced.
func (n *Node) fillProxyChecks(spec *pb.QuerySpec, t *Table, owners []string, peerInfos []*pb.InfoResponse) error {
	j := spec.GetJoint()
	j.ProxyChecks, j.ProxyGuards = nil, nil
	asked, err := jointFromProto(j)
	if err != nil {
		return err
	}
	infos := make([]*NodeInfo, len(owners))
	for k, r := range peerInfos {
		infos[k] = infoFromProto(r)
	}
	if th, ok := n.cfg.Policy.segments(spec.Purpose); ok {
		j.ProxyGuards = append(j.ProxyGuards, &pb.ProxyGuard{Owner: n.cfg.Name, Threshold: th})
	}
	for k, info := range infos {
		if slices.Contains(info.Segmenting, spec.Purpose) {
			j.ProxyGuards = append(j.ProxyGuards, &pb.ProxyGuard{Owner: owners[k], Threshold: info.ProxyThreshold})
		}
	}
	if len(j.ProxyGuards) == 0 {
		return nil
	}
	// The protected columns with their owners' declarations: this node's
	// as x columns, the y owners' (a pool's under its name) as y columns.
	var protected []*pb.ColumnRef
	for _, c := range t.Columns() {
		if slices.Contains(t.ColumnTags(c), TagProtected) {
			lo, hi, _ := t.ColumnBounds(c)
			protected = append(protected, &pb.ColumnRef{Owner: n.cfg.Name, Name: c, Lo: lo, Hi: hi, Step: t.ColumnStep(c),
				Levels: slices.Clone(t.ColumnLevels(c)), Unit: t.ColumnUnit(c)})
		}
	}
	yName := j.Y[0].Owner
	for _, info := range infos {
		for _, c := range info.Columns {
			if !slices.Contains(info.Tags[c], TagProtected) || slices.ContainsFunc(protected, func(p *pb.ColumnRef) bool { return p.Owner == yName && p.Name == c }) {
				continue
			}
			b := info.Bounds[c]
			protected = append(protected, &pb.ColumnRef{Owner: yName, Name: c, Lo: b[0], Hi: b[1], Step: info.Steps[c], Levels: info.Levels[c], Unit: info.Units[c]})
		}
	}
	// Correlations over every column name them, so that the protected
	// columns added below enter no correlation.
	if j.Correlations && len(j.CorrelationX) == 0 && len(j.CorrelationY) == 0 {
		by := j.GetCorrelationBy()
		for _, c := range j.X {
			if c.Owner != by.GetOwner() || c.Name != by.GetName() {
				j.CorrelationX = append(j.CorrelationX, &pb.ColumnRef{Owner: c.Owner, Name: c.Name})
			}
		}
		for _, c := range j.Y {
			if c.Owner != by.GetOwner() || c.Name != by.GetName() {
				j.CorrelationY = append(j.CorrelationY, &pb.ColumnRef{Owner: c.Owner, Name: c.Name})
			}
		}
	}
	has := func(cols []*pb.ColumnRef, p *pb.ColumnRef) bool {
		return slices.ContainsFunc(cols, func(c *pb.ColumnRef) bool { return c.Owner == p.Owner && c.Name == p.Name })
	}
	for _, p := range protected {
		pref := aggregate.ColumnRef{Owner: p.Owner, Name: p.Name}
		added := false
		for _, g := range groupingColumns(asked) {
			if g == pref {
				continue
			}
			j.ProxyChecks = append(j.ProxyChecks, &pb.ProxyCheck{By: &pb.ColumnRef{Owner: g.Owner, Name: g.Name}, Protected: &pb.ColumnRef{Owner: p.Owner, Name: p.Name}})
			added = true
		}
		switch {
		case !added:
		case p.Owner == n.cfg.Name && !has(j.X, p):
			j.X = append(j.X, p)
		case p.Owner != n.cfg.Name && !has(j.Y, p):
			j.Y = append(j.Y, p)
		}
	}
	return nil
}

// proxyRefusal is this owner's admission check of a query's proxy checks:
// for a purpose it declares segmenting its guard must be there with its
// threshold, and whenever some owner guards the query, every grouping
// column must be checked against each of this owner's protected columns.
// Checks against its columns must be of protected columns. It returns the
// reason of a refusal and what the audit records of it, or "".
func (n *Node) proxyRefusal(q *Query) (reason string, detail map[string]string) {
	j := q.Joint
	if j == nil {
		return "", nil
	}
	th, segmenting := n.cfg.Policy.segments(q.Purpose)
	i := slices.IndexFunc(j.Guards, func(g ProxyGuard) bool { return g.Owner == n.cfg.Name })
	switch {
	case segmenting && (i < 0 || j.Guards[i].Threshold != th):
		return fmt.Sprintf("purpose %q segments people: the query lacks this owner's proxy check at threshold %g", q.Purpose, th), nil
	case !segmenting && i >= 0:
		return fmt.Sprintf("the query names a proxy threshold of this owner, which does not declare purpose %q segmenting", q.Purpose), nil
	case len(j.Guards) == 0 && len(j.Proxies) > 0:
		return "the query asks for proxy checks that no owner declared", nil
	case len(j.Guards) == 0:
		return "", nil
	}
	grouping := groupingColumns(j)
	protected := n.protectedColumns()
	for _, pr := range j.Proxies {
		if !slices.Contains(grouping, pr.By) {
			return fmt.Sprintf("proxy check of column %q, which the query does not group by", pr.By), nil
		}
		if j.ownRef(n.cfg.Name, pr.Protected) && !slices.Contains(protected, pr.Protected.Name) {
			return fmt.Sprintf("proxy check against column %q, which this owner does not tag %q", pr.Protected.Name, TagProtected), nil
		}
	}
	for _, p := range protected {
		for _, g := range grouping {
			if j.ownRef(n.cfg.Name, g) && g.Name == p {
				continue
			}
			if !slices.ContainsFunc(j.Proxies, func(pr aggregate.ProxyRequest) bool {
				return pr.By == g && j.ownRef(n.cfg.Name, pr.Protected) && pr.Protected.Name == p
			}) {
				return fmt.Sprintf("the query lacks the proxy check of grouping column %s against protected column %q", g, p),
					map[string]string{"proxy_by": g.String(), "proxy_protected": p}
			}
		}
	}
	return "", nil
}

// proxyCheck is this owner's decision before it releases stage two of q:
// for a purpose it declares segmenting, every association the stage-one
// values give (counts, statistic → noisy value) must be defined and at
// most its threshold. A refusal names the grouping column, the protected
// column, the noisy association and the threshold, and is recorded in the
// audit log.
func (n *Node) proxyCheck(q *Query, c *aggregate.Compiled, counts map[int]float64) error {
	th, ok := n.cfg.Policy.segments(q.Purpose)
	if !ok {
		return nil
	}
	var worst *aggregate.Association
	for _, a := range c.ProxyAssociations(counts) {
		switch {
		case math.IsNaN(a.Value):
			worst = &a
		case a.Value > th && (worst == nil || a.Value > worst.Value):
			worst = &a
		}
		if worst != nil && math.IsNaN(worst.Value) {
			break
		}
	}
	if worst == nil {
		return nil
	}
	detail := map[string]string{"proxy_by": worst.By.String(), "proxy_protected": worst.Protected.String(), "proxy_kind": worst.Kind,
		"proxy_association": fmt.Sprintf("%.3f", worst.Value), "proxy_threshold": fmt.Sprint(th)}
	reason := fmt.Sprintf("proxy check (purpose %q segments people): grouping column %s is a proxy of protected column %s: noisy association %.2f (%s) exceeds the threshold %g",
		q.Purpose, worst.By, worst.Protected, worst.Value, proxyKindWords[worst.Kind], th)
	if math.IsNaN(worst.Value) {
		reason = fmt.Sprintf("proxy check (purpose %q segments people): the association of grouping column %s with protected column %s cannot be estimated from the noisy sums (too few common records, or a column without variance among them), so it cannot be shown to be at most the threshold %g",
			q.Purpose, worst.By, worst.Protected, th)
	}
	return n.refusal(q, reason, detail, false)
}

var proxyKindWords = map[string]string{
	aggregate.ProxyPearson: "|r|", aggregate.ProxyEta: "correlation ratio", aggregate.ProxyCramersV: "Cramér's V",
}
