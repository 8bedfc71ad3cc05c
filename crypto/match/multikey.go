package match

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Multi-key matching (README.md, Multi-key matching): records carry one key
// slot per declared key kind, in priority order; two records match when a
// key of the same kind is equal, greedily by kind, one to one. This file
// holds what both roles share: the kinds and their hash domains, the match
// rule's treatment of keys repeated within one dataset, and blinding.

// MaxKinds bounds the number of key kinds of a multi-key session.
const MaxKinds = 16

// Errors of the multi-key protocol's inputs.
var (
	// ErrKinds is returned for a list of key kinds that is empty, longer
	// than MaxKinds, or names a kind twice or not at all.
	ErrKinds = errors.New("match: bad key kinds")
	// ErrRecordKeys is returned when a record does not have exactly one key
	// slot per key kind.
	ErrRecordKeys = errors.New("match: record does not have one key slot per kind")
)

// Suffixes of the session's DomainTag for the multi-key hashes. Each ends
// the tag with '#' and a component that is either lower-case hex (the kind)
// or upper-case letters, so no multi-key tag equals another, or a
// single-key tag (whose text after the last '|' is hex only).
const (
	kindTagSuffix  = "#MK1-KEY#"
	padTagSuffix   = "#MK1-PAD"
	tokenTagSuffix = "#MK1-TOKEN"
	// randomMsgSize is the length of the fresh random messages hashed into
	// padding and token points.
	randomMsgSize = 32
)

// KindTag is the hash-to-group domain separation tag of keys of one kind in
// the multi-key session with tag dst (DomainTag): an e-mail and a phone
// number with the same bytes hash to unrelated points.
func KindTag(dst []byte, kind string) []byte {
	tag := make([]byte, 0, len(dst)+len(kindTagSuffix)+2*len(kind))
	tag = append(tag, dst...)
	tag = append(tag, kindTagSuffix...)
	return hex.AppendEncode(tag, []byte(kind))
}

func suffixTag(dst []byte, suffix string) []byte {
	tag := make([]byte, 0, len(dst)+len(suffix))
	return append(append(tag, dst...), suffix...)
}

// checkKinds validates the declared key kinds.
func checkKinds(kinds []string) error {
	if len(kinds) == 0 || len(kinds) > MaxKinds {
		return fmt.Errorf("%w: %d kinds, want 1 to %d", ErrKinds, len(kinds), MaxKinds)
	}
	seen := make(map[string]bool, len(kinds))
	for i, k := range kinds {
		if k == "" {
			return fmt.Errorf("%w: kind %d has no name", ErrKinds, i)
		}
		if seen[k] {
			return fmt.Errorf("%w: kind %d repeats an earlier kind", ErrKinds, i)
		}
		seen[k] = true
	}
	return nil
}

// mkSide is the state both multi-key roles share: the two keys, the own
// permutation and record count (side), the kinds, and what blinding found.
type mkSide struct {
	side
	kinds   int
	tags    [][]byte // hash domain of each kind
	pad     []byte   // hash domain of padding points
	token   []byte   // hash domain of the UID tokens
	dropped []int    // per kind: own keys ignored because several own records share them
}

func newMKSide(dst []byte, kinds []string) (mkSide, error) {
	if err := checkKinds(kinds); err != nil {
		return mkSide{}, err
	}
	s, err := newSide(dst)
	if err != nil {
		return mkSide{}, err
	}
	m := mkSide{side: s, kinds: len(kinds), pad: suffixTag(dst, padTagSuffix), token: suffixTag(dst, tokenTagSuffix)}
	for _, k := range kinds {
		m.tags = append(m.tags, KindTag(dst, k))
	}
	return m, nil
}

// Dropped returns, per kind, how many own keys Blind ignored because the
// same key of that kind is in more than one own record (README.md, Match
// rule). These are counts of the party's own data, safe to log.
func (s *mkSide) Dropped() []int { return append([]int(nil), s.dropped...) }

// usableKeys applies the match rule's first step to one dataset: a key is
// usable when it is non-empty and no other record of the dataset has the
// same key of the same kind. It returns usable[j*K+k] and the number of
// dropped keys per kind.
func usableKeys(records [][][]byte, kinds int) ([]bool, []int, error) {
	usable := make([]bool, len(records)*kinds)
	dropped := make([]int, kinds)
	for j, r := range records {
		if len(r) != kinds {
			return nil, nil, fmt.Errorf("%w: record %d has %d slots for %d kinds", ErrRecordKeys, j, len(r), kinds)
		}
	}
	for k := range kinds {
		count := make(map[string]int, len(records))
		for _, r := range records {
			if len(r[k]) > 0 {
				count[string(r[k])]++
			}
		}
		for j, r := range records {
			if len(r[k]) == 0 {
				continue
			}
			if count[string(r[k])] == 1 {
				usable[j*kinds+k] = true
			} else {
				dropped[k]++
			}
		}
	}
	return usable, dropped, nil
}

// blindRecords is step 1 for either role: the records in the secret order
// π, each as K consecutive points, slot k holding H_k(key)^k1 for a usable
// key of kind k and a fresh random point H_pad(r)^k1 otherwise, so that the
// peer cannot tell how many keys a record has.
func (s *mkSide) blindRecords(records [][][]byte) ([][]byte, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if s.blinded {
		return nil, fmt.Errorf("%w: blind called twice", ErrStep)
	}
	if len(records) == 0 {
		return nil, ErrEmpty
	}
	if len(records) > MaxPoints/s.kinds {
		return nil, fmt.Errorf("%w: %d records of %d keys", ErrLength, len(records), s.kinds)
	}
	usable, dropped, err := usableKeys(records, s.kinds)
	if err != nil {
		return nil, err
	}
	perm, err := randomPermutation(len(records))
	if err != nil {
		return nil, err
	}
	K := s.kinds
	msgs := make([][]byte, len(records)*K)
	dsts := make([][]byte, len(msgs))
	pads := 0
	for i, j := range perm {
		for k := range K {
			if usable[j*K+k] {
				msgs[i*K+k], dsts[i*K+k] = records[j][k], s.tags[k]
			} else {
				pads++
			}
		}
	}
	random := make([]byte, pads*randomMsgSize)
	defer clear(random)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	for i := range msgs {
		if dsts[i] == nil {
			msgs[i], dsts[i], random = random[:randomMsgSize:randomMsgSize], s.pad, random[randomMsgSize:]
		}
	}
	out := s.k.hashAndExponentiate(msgs, func(i int) []byte { return dsts[i] })
	s.perm, s.n, s.dropped, s.blinded = perm, len(records), dropped, true
	return out, nil
}

// checkRecordList checks a list of K points per record from the peer:
// a whole number of records, at least one, and no repeated point.
func checkRecordList(points [][]byte, kinds int) (records int, err error) {
	if len(points) == 0 || len(points)%kinds != 0 {
		return 0, fmt.Errorf("%w: %d points for records of %d keys", ErrLength, len(points), kinds)
	}
	if err := checkList(points, len(points)); err != nil {
		return 0, err
	}
	return len(points) / kinds, nil
}

// checkDisjoint reports the first point of b that is also in a; the
// protocol's token lists are disjoint, so that every UID is distinct.
func checkDisjoint(a, b [][]byte) error {
	in := make(map[[PointSize]byte]struct{}, len(a))
	for _, p := range a {
		in[[PointSize]byte(p)] = struct{}{}
	}
	for i, p := range b {
		if _, ok := in[[PointSize]byte(p)]; ok {
			return &PointError{Index: i, Err: ErrDuplicatePoint}
		}
	}
	return nil
}

// MultiKeyWork is the number of scalar multiplications either party does
// in a multi-key session with kinds key kinds, x and y records and a union
// of u records: kinds·(x + y) to blind and re-blind the keys and 2u for
// the tokens; (kinds + 2)(x + y) bounds it before the union is known.
func MultiKeyWork(kinds, x, y, u int) int64 {
	return int64(kinds)*(int64(x)+int64(y)) + 2*int64(u)
}

// decodeAll validates every point of a list without using it.
func decodeAll(points [][]byte) error {
	return parallel(len(points), func(lo, hi int) error {
		var p edwards25519.Point
		for i := lo; i < hi; i++ {
			if err := decodeNonIdentity(&p, points[i]); err != nil {
				return &PointError{Index: i, Err: err}
			}
		}
		return nil
	})
}

// exponentiateLists raises the points of several lists to k in one
// parallel pass (short lists alone would leave cores idle) and returns them
// split again; a PointError names the index within its own list, and the
// error is prefixed with that list's name.
func (k *Key) exponentiateLists(names []string, lists ...[][]byte) ([][][]byte, error) {
	var all [][]byte
	for _, l := range lists {
		all = append(all, l...)
	}
	pw, err := k.Exponentiate(all)
	if err != nil {
		var pe *PointError
		if errors.As(err, &pe) {
			off := 0
			for i, l := range lists {
				if pe.Index < off+len(l) {
					return nil, fmt.Errorf("%s: %w", names[i], &PointError{Index: pe.Index - off, Err: pe.Err})
				}
				off += len(l)
			}
		}
		return nil, err
	}
	out := make([][][]byte, len(lists))
	off := 0
	for i, l := range lists {
		out[i] = pw[off : off+len(l) : off+len(l)]
		off += len(l)
	}
	return out, nil
}
