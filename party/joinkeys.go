package party

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/source"
)

// Join keys: the identifier kinds a node matches on (join_key, or
// join_keys in priority order), the keys of each record, and what a
// matching session needs of them. One kind runs the single-key protocol,
// several the multi-key one (crypto/match/README.md, Multi-key matching);
// every node of a federation declares the same list, which the matching
// hello checks.

// Values of match_graph.
const (
	MatchGraphEither = "either"
	MatchGraphSelf   = "self"
)

// validateJoinKeys checks join_key, join_keys and match_graph: at most one
// of the first two, only known kinds, none twice; match_graph "self" only
// with several kinds, where it has a meaning. Without either, the node
// matches on e-mail.
func (c *Config) validateJoinKeys() error {
	switch c.MatchGraph {
	case "", MatchGraphEither:
	case MatchGraphSelf:
		if len(c.JoinKeys) < 2 {
			return c.errorf(c.body, "match_graph", `"self" needs several join_keys: with one kind neither owner learns a match graph`)
		}
	default:
		return c.errorf(c.body, "match_graph", "%q is neither %q nor %q", c.MatchGraph, MatchGraphEither, MatchGraphSelf)
	}
	if len(c.JoinKeys) == 0 {
		c.JoinKey = cmp.Or(c.JoinKey, string(ident.KindEmail))
		if _, err := ident.ParseKind(c.JoinKey); err != nil {
			return c.errorf(c.body, "join_key", "%q is not an identifier kind (email, phone or id)", c.JoinKey)
		}
		return nil
	}
	if c.JoinKey != "" {
		return c.errorf(c.body, "join_keys", "set either join_key (one kind) or join_keys, not both")
	}
	if len(c.JoinKeys) > match.MaxKinds {
		return c.errorf(c.body, "join_keys", "%d kinds, at most %d", len(c.JoinKeys), match.MaxKinds)
	}
	for i, k := range c.JoinKeys {
		kind, err := ident.ParseKind(k)
		if err != nil || string(kind) != k {
			return c.errorf(c.body, "join_keys", "%q is not an identifier kind (email, phone or id, lower case)", k)
		}
		if slices.Contains(c.JoinKeys[:i], k) {
			return c.errorf(c.body, "join_keys", "%q listed twice", k)
		}
	}
	return nil
}

// JoinKinds returns the identifier kinds the node matches on, in priority
// order: join_keys, or join_key alone (e-mail by default).
func (c *Config) JoinKinds() []string {
	if len(c.JoinKeys) > 0 {
		return slices.Clone(c.JoinKeys)
	}
	return []string{cmp.Or(c.JoinKey, string(ident.KindEmail))}
}

// normVersion is the normalization version of the node's join kinds,
// which the matching hello carries and the session's hash domain binds:
// two nodes match only when the rules of every kind they match on agree.
func (c *Config) normVersion() uint32 {
	kinds := c.JoinKinds()
	ks := make([]ident.Kind, len(kinds))
	for i, k := range kinds {
		ks[i] = ident.Kind(k)
	}
	return ident.SessionVersion(ks...)
}

// multiKey reports whether the node matches on several kinds, and so runs
// the multi-key protocol.
func (c *Config) multiKey() bool { return len(c.JoinKinds()) > 1 }

// kindList names a list of kinds in messages: ["email", "phone"].
func kindList(kinds []string) string {
	q := make([]string, len(kinds))
	for i, k := range kinds {
		q[i] = fmt.Sprintf("%q", k)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// rowKeys returns a source row's normalized identifiers of each of kinds,
// in order ("" for one it lacks), and whether it has any.
func rowKeys(kinds []ident.Kind, r *source.Row) ([]string, bool) {
	keys := make([]string, len(kinds))
	has := false
	for i, k := range kinds {
		keys[i] = r.Identifier(source.IDKind(k))
		has = has || keys[i] != ""
	}
	return keys, has
}

// parseKinds parses the node's join kinds for LoadTable, checking that the
// source carries each of them.
func parseKinds(cfg *Config, src source.Config) ([]ident.Kind, error) {
	var kinds []ident.Kind
	for _, k := range cfg.JoinKinds() {
		kind, err := ident.ParseKind(k)
		if err != nil {
			return nil, err
		}
		if len(src.Identifiers) > 0 && !slices.Contains(src.Identifiers, string(kind)) {
			return nil, fmt.Errorf("%w: the node matches on %s, which source %s does not carry (identifiers = %s)",
				ErrConfig, k, src.Describe(), kindList(src.Identifiers))
		}
		kinds = append(kinds, kind)
	}
	return kinds, nil
}

// matchInput is what a matching session needs from the node's data: the
// kinds, the keys of every record and their digest.
type matchInput struct {
	kinds   []string
	keys    [][]byte   // one kind: one key per record
	records [][][]byte // several kinds: records[j][k], empty where missing
	digest  []byte
}

// size is the number of records.
func (in *matchInput) size() int {
	if len(in.kinds) > 1 {
		return len(in.records)
	}
	return len(in.keys)
}

// joinKeyer is what matching needs from a node's data that is not a
// Table: the keys of the one kind it matches on.
type joinKeyer interface {
	JoinKeys(ctx context.Context) (keys [][]byte, digest []byte, err error)
}

// joinKeys returns the join keys of the records in consent set set ("" the
// default) and their digest, in the form the node's join kinds call for.
func (n *Node) joinKeys(ctx context.Context, set string) (*matchInput, error) {
	in := &matchInput{kinds: n.cfg.JoinKinds()}
	if t, ok := n.data.(*Table); ok {
		v, err := t.View(set)
		if err != nil {
			return nil, err
		}
		if err := in.fromTable(v); err != nil {
			return nil, err
		}
	} else if jk, ok := n.data.(joinKeyer); ok && set == "" && len(in.kinds) == 1 {
		keys, digest, err := jk.JoinKeys(ctx)
		if err != nil {
			return nil, err
		}
		in.keys, in.digest = keys, digest
	} else {
		return nil, ErrNoKeys
	}
	if in.size() == 0 {
		return nil, fmt.Errorf("%w: no consenting records", match.ErrEmpty)
	}
	return in, nil
}

// fromTable takes the keys of t, which must hold the node's join kinds.
func (in *matchInput) fromTable(t *Table) error {
	if t.Digest == nil {
		t.Digest = DigestTable(t)
	}
	in.digest = t.Digest
	if len(in.kinds) == 1 {
		if t.MultiKeys != nil {
			return fmt.Errorf("%w: the node matches on %s, its data has keys of %s", ErrNoKeys, kindList(in.kinds), kindList(t.KeyKinds))
		}
		in.keys = t.Keys
		return nil
	}
	if !slices.Equal(t.KeyKinds, in.kinds) || (t.MultiKeys == nil && len(t.Keys) > 0) {
		return fmt.Errorf("%w: the node matches on %s, its data has keys of %s", ErrNoKeys, kindList(in.kinds), kindList(t.KeyKinds))
	}
	for j, r := range t.MultiKeys {
		if len(r) != len(in.kinds) {
			return fmt.Errorf("%w: record %d has %d keys for %d kinds", ErrNoKeys, j, len(r), len(in.kinds))
		}
	}
	in.records = t.MultiKeys
	return nil
}
