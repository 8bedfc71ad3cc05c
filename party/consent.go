package party

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party/source"
)

// Consent per purpose (docs/governance.md, "Consent per purpose"): the
// policy's consent_column is the consent of every purpose, and a consent
// block maps a purpose to a column of its own:
//
//	policy {
//	  purposes       = ["research", "marketing"]
//	  consent_column = "consent"
//	  consent {
//	    marketing = "consent_marketing"
//	  }
//	}
//
// A query uses only the records that consented to its purpose, at every
// owner, before matching: the node keeps one view of its table per
// consent column (a consent set), and a matching layout per pair of the
// two owners' consent sets.

// ConsentConfig is the policy's consent block: purpose = "column".
type ConsentConfig struct {
	Body hcl.Body `hcl:",remain"`
}

// consentSetRE is the form of a consent column name, which also names
// the files of the matching layouts cached for it.
var consentSetRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// validateConsent reads the consent block into ConsentColumns and checks
// it: every purpose is the policy's, every column a plain name. A purpose
// mapped to the default column is left out: it has no set of its own.
func (c *Config) validateConsent() error {
	pol := c.Policy
	if pol.Consent != nil && pol.Consent.Body != nil {
		attrs, diags := pol.Consent.Body.JustAttributes()
		if diags.HasErrors() {
			return fmt.Errorf("%w: consent: %s", ErrConfig, diags.Error())
		}
		if pol.ConsentColumns == nil {
			pol.ConsentColumns = map[string]string{}
		}
		for name, a := range attrs {
			var col string
			if diags := gohcl.DecodeExpression(a.Expr, nil, &col); diags.HasErrors() {
				return c.errorf(pol.Consent.Body, name, "consent.%s must be a column name in quotes, such as \"consent_%s\"", name, name)
			}
			pol.ConsentColumns[name] = col
		}
	}
	for _, p := range slices.Sorted(maps.Keys(pol.ConsentColumns)) {
		col := pol.ConsentColumns[p]
		body := hcl.Body(nil)
		if pol.Consent != nil {
			body = pol.Consent.Body
		}
		if !slices.Contains(pol.Purposes, p) {
			return c.errorf(body, p, "consent.%s: %q is not a purpose of the policy (purposes: %s)", p, p, strings.Join(pol.Purposes, ", "))
		}
		if !consentSetRE.MatchString(col) {
			return c.errorf(body, p, "consent.%s: %q is not a column name (letters, digits and underscores)", p, col)
		}
		if col == pol.ConsentColumn {
			delete(pol.ConsentColumns, p)
		}
	}
	// A consent flag says who agreed to what: it decides which records a
	// query may use and is never a value a query reads.
	if c.Source != nil {
		for _, col := range c.Source.Columns {
			in := col.Input()
			if in == pol.ConsentColumn || slices.Contains(slices.Collect(maps.Values(pol.ConsentColumns)), in) {
				return c.blockErrorf("source", "column %q reads the consent column %q: consent decides which records a query may use and cannot be a column a query reads", col.Name, in)
			}
		}
	}
	return nil
}

// ConsentSet is the consent column of purpose's records at this node: ""
// for the default (consent_column), else the purpose's own column.
func (p *PolicyConfig) ConsentSet(purpose string) string { return p.ConsentColumns[purpose] }

// consentSets lists the consent columns of the policy besides the
// default, sorted, once each.
func (p *PolicyConfig) consentSets() []string {
	return slices.Compact(slices.Sorted(maps.Values(p.ConsentColumns)))
}

// consentReader collects, while LoadTable reads the source once, which
// records consent under each extra consent column: the source reads them
// beside the default one (source.Config.ExtraConsent).
type consentReader struct {
	sets  []string          // the extra consent columns, as ExtraConsent
	mask  map[string][]bool // per set, and "" for the default: per table record
	order []string          // "" then sets
}

// newConsentReader is the reader of cfg's extra consent columns, nil when
// there are none.
func newConsentReader(cfg *Config) *consentReader {
	sets := cfg.Policy.consentSets()
	if len(sets) == 0 {
		return nil
	}
	return &consentReader{sets: sets, mask: map[string][]bool{}, order: append([]string{""}, sets...)}
}

// columns are the consent columns the source reads besides its own.
func (cr *consentReader) columns() []string {
	if cr == nil {
		return nil
	}
	return cr.sets
}

// keep reports whether record r consents to any purpose.
func (cr *consentReader) keep(r *source.Row) bool {
	return r.Consent || slices.Contains(r.Consents, true)
}

// note records the consent of a record kept in the table.
func (cr *consentReader) note(r *source.Row) {
	if cr == nil {
		return
	}
	cr.mask[""] = append(cr.mask[""], r.Consent)
	for k, col := range cr.sets {
		cr.mask[col] = append(cr.mask[col], r.Consents[k])
	}
}

// views sets t's consent views: one table per consent set, of the
// records that consent under it.
func (cr *consentReader) views(t *Table) {
	if cr == nil {
		return
	}
	t.views = map[string]*Table{}
	for _, set := range cr.order {
		t.views[set] = t.Subset(cr.mask[set])
	}
}

// Subset is the table of the records keep marks (keep[k] for record k),
// with the same declarations and its own digest.
func (t *Table) Subset(keep []bool) *Table {
	s := &Table{Values: map[string][]float64{}, Bounds: t.Bounds, Levels: t.Levels, Units: t.Units, Steps: t.Steps, Tags: t.Tags, Estimated: t.Estimated,
		KeyKinds: t.KeyKinds}
	for c := range t.Values {
		s.Values[c] = []float64{}
	}
	if t.MultiKeys != nil {
		s.MultiKeys = [][][]byte{}
	}
	for k := range t.records() {
		if !keep[k] {
			continue
		}
		if t.MultiKeys != nil {
			s.MultiKeys = append(s.MultiKeys, t.MultiKeys[k])
		} else {
			s.Keys = append(s.Keys, t.Keys[k])
		}
		for c, v := range t.Values {
			s.Values[c] = append(s.Values[c], v[k])
		}
	}
	s.Digest = DigestTable(s)
	return s
}

// View is the table of the records that consent under consent set set
// ("" the default): t itself when the table has no views.
func (t *Table) View(set string) (*Table, error) {
	if t.views == nil {
		if set == "" {
			return t, nil
		}
		return nil, fmt.Errorf("%w: this node's data has no consent set %q", ErrBadRequest, set)
	}
	v, ok := t.views[set]
	if !ok {
		return nil, fmt.Errorf("%w: this node's data has no consent set %q", ErrBadRequest, set)
	}
	return v, nil
}

// ConsentCounts returns the records of each consent set ("" the
// default), nil for a table without views.
func (t *Table) ConsentCounts() map[string]int {
	if t.views == nil {
		return nil
	}
	out := map[string]int{}
	for set, v := range t.views {
		out[set] = v.records()
	}
	return out
}

// sessionLayout returns the layout cached with peer for matching session
// session in this node's consent set own, whatever the peer's set (the
// peer chose it, and the session names it).
func (n *Node) sessionLayout(peer, own string, session []byte) (*MatchInfo, *match.Layout, error) {
	pairs, err := n.layoutPairs(peer, own)
	if err != nil {
		return nil, nil, err
	}
	want := hex.EncodeToString(session)
	for _, p := range pairs {
		if info, l, err := n.cachedLayout(peer, p); err == nil && info.Session == want {
			return info, l, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: no matching layout with %s for session %x", ErrNotReady, peer, session)
}

// layoutPairs returns the consent pairs of the layouts that may be cached
// with peer in this node's consent set own, whatever the peer's set.
func (n *Node) layoutPairs(peer, own string) ([]consentPair, error) {
	var pairs []consentPair
	if own == "" {
		pairs = append(pairs, consentPair{})
	}
	files, err := filepath.Glob(n.store.path(matchFile(peer, consentPair{own: own, peer: "*"}) + ".json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		_, peerSet, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".json"), "~"+cmp.Or(own, "-")+"~")
		pairs = append(pairs, consentPair{own: own, peer: strings.TrimPrefix(peerSet, "-")})
	}
	return pairs, nil
}

// currentSessions returns the sessions of the layouts this node holds
// with peer in its consent set own that are over the records it holds
// now: the ones it can still upload over. None when it cannot tell.
func (n *Node) currentSessions(ctx context.Context, peer, own string) [][]byte {
	in, err := n.joinKeys(ctx, own)
	if err != nil {
		return nil
	}
	pairs, err := n.layoutPairs(peer, own)
	if err != nil {
		return nil
	}
	var out [][]byte
	for _, p := range pairs {
		var info MatchInfo
		found, err := n.store.readJSON(matchFile(peer, p)+".json", &info)
		if err != nil || !found || info.Digest != hex.EncodeToString(in.digest) {
			continue
		}
		if s, err := hex.DecodeString(info.Session); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// tableFor is the node's table of the records that consented to purpose.
func (n *Node) tableFor(purpose string) (*Table, error) {
	t, err := n.table()
	if err != nil {
		return nil, err
	}
	return t.View(n.cfg.Policy.ConsentSet(purpose))
}
