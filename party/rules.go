package party

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party/source"
)

// Purpose rules (docs/governance.md, "Tags and purpose rules"): a data
// owner tags its columns in its source ("protected", "health",
// "proxy:pregnancy") and its policy says, per purpose, which tags may not
// take which role in a query. Each owner applies its rules to its own
// columns, with its own tags, at admission: a query that breaks one is
// refused before anything is charged, and the refusal names the rule, the
// column and the tag.

// Role is what a query does with a column.
type Role string

// The roles of a joint query's columns.
const (
	// RoleBy groups: the by column of correlations or of a rate, either
	// axis of a contingency table, a categorical regression predictor.
	RoleBy Role = "by"
	// RolePredictor is a regression predictor, RoleOutcome its outcome.
	RolePredictor Role = "predictor"
	RoleOutcome   Role = "outcome"
	// RoleCorrelation is a column of a correlation (with its mean and
	// variance).
	RoleCorrelation Role = "correlation"
	// RoleEvents and RoleExposure are a rate's events and exposure.
	RoleEvents   Role = "events"
	RoleExposure Role = "exposure"
)

// RuleAny is the label of a rule for every purpose.
const RuleAny = "*"

// PurposeRule restricts, for one purpose (the block label, or "*" for
// every purpose), the roles a query may give this owner's columns by
// their tags:
//
//	rule "underwriting" {
//	  deny_tags {
//	    by        = ["protected", "health"]
//	    predictor = ["protected"]
//	    any       = ["proxy:pregnancy"]
//	  }
//	}
type PurposeRule struct {
	// Purpose is the block label: a purpose of the policy, or "*".
	Purpose string `hcl:"purpose,label"`
	// DenyTags lists, per role, the tags a column in that role may not
	// carry.
	DenyTags *RoleTags `hcl:"deny_tags,block"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// RoleTags lists tags per role of a query's columns.
type RoleTags struct {
	// Any applies to a column in any role, even one the query only names.
	Any         []string `hcl:"any,optional"`
	By          []string `hcl:"by,optional"`
	Predictor   []string `hcl:"predictor,optional"`
	Outcome     []string `hcl:"outcome,optional"`
	Correlation []string `hcl:"correlation,optional"`
	Events      []string `hcl:"events,optional"`
	Exposure    []string `hcl:"exposure,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// roleFields pairs each role's attribute name with its tags; "any" first.
func (r *RoleTags) roleFields() []struct {
	role Role
	tags []string
} {
	return []struct {
		role Role
		tags []string
	}{{"any", r.Any}, {RoleBy, r.By}, {RolePredictor, r.Predictor}, {RoleOutcome, r.Outcome},
		{RoleCorrelation, r.Correlation}, {RoleEvents, r.Events}, {RoleExposure, r.Exposure}}
}

// Describe words the rule for an operator: "underwriting: no column tagged
// hiv in any role; no by column tagged protected, health".
func (r PurposeRule) Describe() string {
	var parts []string
	if r.DenyTags != nil {
		for _, f := range r.DenyTags.roleFields() {
			switch {
			case len(f.tags) == 0:
			case f.role == "any":
				parts = append(parts, fmt.Sprintf("no column tagged %s in any role", strings.Join(f.tags, ", ")))
			default:
				parts = append(parts, fmt.Sprintf("no %s column tagged %s", f.role, strings.Join(f.tags, ", ")))
			}
		}
	}
	purpose := r.Purpose
	if purpose == RuleAny {
		purpose = "every purpose"
	}
	return purpose + ": " + strings.Join(parts, "; ")
}

// denies returns the first tag of tags that r denies in role, and the
// attribute naming it.
func (r *RoleTags) denies(role Role, tags []string) (tag, field string) {
	for _, f := range r.roleFields() {
		if f.role != "any" && f.role != role {
			continue
		}
		for _, t := range tags {
			if slices.Contains(f.tags, t) {
				return t, string(f.role)
			}
		}
	}
	return "", ""
}

// validateRules checks the policy's rules: each names a purpose of the
// policy (or "*") once, denies something, and names tags in their form;
// with a source, every tag a rule names must be on one of its columns, so
// that a misspelt tag cannot leave a column unguarded.
func (c *Config) validateRules() error {
	pol := c.Policy
	declared := map[string]bool{}
	if c.Source != nil {
		for _, col := range c.Source.Columns {
			for _, t := range col.Tags {
				declared[t] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range pol.Rules {
		what := fmt.Sprintf("rule %q", r.Purpose)
		if r.Purpose != RuleAny && !slices.Contains(pol.Purposes, r.Purpose) {
			return c.errorf(r.Body, "", "%s: %q is not a purpose of the policy (purposes: %s), nor \"*\" for every purpose", what, r.Purpose, strings.Join(pol.Purposes, ", "))
		}
		if seen[r.Purpose] {
			return c.errorf(r.Body, "", "%s is declared twice: put its tags in one block", what)
		}
		seen[r.Purpose] = true
		if r.DenyTags == nil {
			return c.errorf(r.Body, "", "%s denies nothing: add a deny_tags block such as deny_tags { by = [\"protected\"] }", what)
		}
		n := 0
		for _, f := range r.DenyTags.roleFields() {
			n += len(f.tags)
			if err := source.CheckTags(f.tags); err != nil {
				return c.errorf(r.DenyTags.Body, string(f.role), "%s: deny_tags.%s: %v", what, f.role, err)
			}
			if c.Source == nil {
				continue
			}
			for _, t := range f.tags {
				if !declared[t] {
					return c.errorf(r.DenyTags.Body, string(f.role), "%s: deny_tags.%s: no column of the source is tagged %q (tags: %s)",
						what, f.role, t, orNone(slices.Sorted(maps.Keys(declared))))
				}
			}
		}
		if n == 0 {
			return c.errorf(r.DenyTags.Body, "", "%s: deny_tags names no tag", what)
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// setTags records a column's declared tags.
func (t *Table) setTags(column string, tags []string) {
	if len(tags) == 0 {
		return
	}
	if t.Tags == nil {
		t.Tags = map[string][]string{}
	}
	t.Tags[column] = slices.Clone(tags)
}

// tagger is implemented by datasets that declare their columns' tags
// (Table).
type tagger interface {
	ColumnTags(column string) []string
}

// columnUse is one role a query gives one column.
type columnUse struct {
	column string
	role   Role
}

// columnRoles lists the roles q gives owner's columns (a pool's y columns
// are each pooled owner's), in the query's order: every column named in
// x or y with role "" (named at all), then each statistic's.
func (q *Query) columnRoles(owner string) []columnUse {
	j := q.Joint
	pooled := j.Pool != nil && slices.Contains(j.Pool.Owners, owner)
	mine := func(r aggregate.ColumnRef) bool { return r.Owner == owner || (pooled && r.Owner == j.Pool.Name) }
	var out []columnUse
	add := func(r aggregate.ColumnRef, role Role) {
		if mine(r) {
			out = append(out, columnUse{r.Name, role})
		}
	}
	for _, c := range append(slices.Clone(j.X), j.Y...) {
		add(c.Ref, "")
	}
	if j.Correlations {
		if len(j.CorrelationX) == 0 && len(j.CorrelationY) == 0 {
			for _, c := range append(slices.Clone(j.X), j.Y...) {
				if c.Ref != j.CorrelationBy {
					add(c.Ref, RoleCorrelation)
				}
			}
		}
		for _, r := range append(slices.Clone(j.CorrelationX), j.CorrelationY...) {
			add(r, RoleCorrelation)
		}
		if j.CorrelationBy != (aggregate.ColumnRef{}) {
			add(j.CorrelationBy, RoleBy)
		}
	}
	for _, r := range j.Rates {
		add(r.By, RoleBy)
		add(r.Events, RoleEvents)
		add(r.Exposure, RoleExposure)
	}
	for _, ct := range j.Contingencies {
		add(ct.X, RoleBy)
		add(ct.Y, RoleBy)
	}
	categorical := func(r aggregate.ColumnRef) bool {
		for _, c := range append(slices.Clone(j.X), j.Y...) {
			if c.Ref == r {
				return len(c.Levels) > 0
			}
		}
		return false
	}
	for _, reg := range j.Regressions {
		for _, p := range reg.Predictors {
			add(p, RolePredictor)
			// A categorical predictor splits people by its levels, one
			// coefficient each, as a grouping does: a rule against
			// grouping by the column holds for it.
			if categorical(p) {
				add(p, RoleBy)
			}
		}
		add(reg.Outcome, RoleOutcome)
	}
	// A column the query names only as the protected column of a proxy
	// check is there because an owner's policy requires the check
	// (proxy.go): it takes no role of the query's.
	inRole := map[string]bool{}
	for _, u := range out {
		inRole[u.column] = inRole[u.column] || u.role != ""
	}
	return slices.DeleteFunc(out, func(u columnUse) bool {
		return u.role == "" && !inRole[u.column] &&
			slices.ContainsFunc(j.Proxies, func(p aggregate.ProxyRequest) bool { return mine(p.Protected) && p.Protected.Name == u.column })
	})
}

// ruleViolation is a query's use of a column that a rule denies.
type ruleViolation struct {
	rule, purpose, column, tag string
	role                       Role   // the role the query gives the column
	field                      string // the deny_tags attribute: the role, or "any"
}

// reason words the violation for the querier, the log and the audit.
func (v *ruleViolation) reason() string {
	use := "in any role"
	if v.field != "any" {
		use = "as " + roleWords[v.role]
	}
	return fmt.Sprintf("rule %q (deny_tags.%s): column %q is tagged %q, which may not be used %s for purpose %q",
		v.rule, v.field, v.column, v.tag, use, v.purpose)
}

// detail is what the audit records of the violation besides its reason.
func (v *ruleViolation) detail() map[string]string {
	return map[string]string{"rule": v.rule, "rule_field": v.field, "rule_column": v.column, "rule_tag": v.tag}
}

var roleWords = map[Role]string{
	RoleBy: "a grouping (by) column", RolePredictor: "a regression predictor", RoleOutcome: "a regression outcome",
	RoleCorrelation: "a correlation column", RoleEvents: "a rate's events", RoleExposure: "a rate's exposure",
}

// ruleViolation returns the first use of this owner's columns in q that
// one of its rules for q's purpose denies, or nil.
func (n *Node) ruleViolation(q *Query) *ruleViolation {
	pol := n.cfg.Policy
	if len(pol.Rules) == 0 || q.Joint == nil {
		return nil
	}
	tg, ok := n.data.(tagger)
	if !ok {
		return nil
	}
	for _, use := range q.columnRoles(n.cfg.Name) {
		tags := tg.ColumnTags(use.column)
		if len(tags) == 0 {
			continue
		}
		for _, r := range pol.Rules {
			if r.DenyTags == nil || (r.Purpose != q.Purpose && r.Purpose != RuleAny) {
				continue
			}
			if tag, field := r.DenyTags.denies(use.role, tags); tag != "" {
				return &ruleViolation{rule: r.Purpose, purpose: q.Purpose, column: use.column, tag: tag, role: use.role, field: field}
			}
		}
	}
	return nil
}
