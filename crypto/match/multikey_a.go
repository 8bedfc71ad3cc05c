package match

import (
	"crypto/rand"
	"fmt"

	"filippo.io/edwards25519"
)

// MultiKeyA is role A of the multi-key protocol in README.md (keys a, a'):
// it computes the match graph on doubly blinded, shuffled records and hands
// out the UID tokens. Create one per session with NewMultiKeyA and call Zero
// when done.
type MultiKeyA struct {
	mkSide
	eB       [][]byte // U_B^a, in B's blinded order, K points per record
	nB       int
	onlyB    int   // |B-only records|
	counts   []int // pairs matched at each kind
	reblind  bool
	matched  bool
	finished bool
}

// NewMultiKeyA draws fresh keys a, a' for one session. dst is DomainTag of
// the session and kinds the key kinds in priority order; both must be the
// same on both sides.
func NewMultiKeyA(dst []byte, kinds []string) (*MultiKeyA, error) {
	s, err := newMKSide(dst, kinds)
	if err != nil {
		return nil, err
	}
	return &MultiKeyA{mkSide: s}, nil
}

// Blind is step 1: for A's records, each with one key slot per kind (nil or
// empty for a missing key), it returns the message KeysBlindedA, K points
// per record in the secret order π_A. The order of records defines the
// record indices of the Layout.
func (p *MultiKeyA) Blind(records [][][]byte) ([][]byte, error) { return p.blindRecords(records) }

// ReblindPeer is A's part of step 2: it keeps E_B = U_B^a from B's
// KeysBlindedB, validating every point. A sends nothing back here.
func (p *MultiKeyA) ReblindPeer(uB [][]byte) error {
	if err := p.ready(); err != nil {
		return err
	}
	if p.reblind {
		return fmt.Errorf("%w: reblind called twice", ErrStep)
	}
	nB, err := checkRecordList(uB, p.kinds)
	if err != nil {
		return fmt.Errorf("keys blinded B: %w", err)
	}
	eB, err := p.k.Exponentiate(uB)
	if err != nil {
		return fmt.Errorf("keys blinded B: %w", err)
	}
	p.eB, p.nB, p.reblind = eB, nB, true
	return nil
}

// Tokens are the four lists A sends in step 3.
type Tokens struct {
	A     [][]byte // TokensA: R per A record, in σ_B order, |X| points
	B     [][]byte // TokensB: R^{a'} per B record, in π_B order, |Y| points
	OnlyB [][]byte // TokensOnlyB: R of the B-only records, shuffled
	OnlyA [][]byte // TokensOnlyA: R^{a'} of the A-only records, shuffled
}

// Match is step 3: from σ_B(E_A) (message KeysShuffledA, K points per
// record) it computes the match graph against E_B, matches greedily by kind
// in priority order (README.md, Match rule), draws a fresh random token R
// per union record, one shared by the two records of a matched pair, and
// returns the lists of Tokens. Every point of σ_B(E_A) is validated first.
func (p *MultiKeyA) Match(shuffledA [][]byte) (*Tokens, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.blinded || !p.reblind || p.matched {
		return nil, fmt.Errorf("%w: match needs blind and reblind first, once", ErrStep)
	}
	K := p.kinds
	if err := checkList(shuffledA, p.n*K); err != nil {
		return nil, fmt.Errorf("keys shuffled A: %w", err)
	}
	if err := decodeAll(shuffledA); err != nil {
		return nil, fmt.Errorf("keys shuffled A: %w", err)
	}
	pairOfA, pairOfB, counts, err := greedyMatch(shuffledA, p.eB, K)
	if err != nil {
		return nil, err
	}
	t, err := p.tokens(pairOfA, pairOfB)
	if err != nil {
		return nil, err
	}
	p.counts, p.onlyB, p.matched = counts, len(t.OnlyB), true
	p.eB = nil
	return t, nil
}

// greedyMatch matches the records of a (σ_B order) and b (π_B order), K
// points each, by kind in priority order: at kind k every pair of records,
// both still unmatched, whose points of kind k are equal is matched. Each
// point is in one record of its side (lists are duplicate-free), so the
// pairs of one kind are disjoint and the result does not depend on the
// order in which they are visited. It returns the partner of each record
// (-1 for none) and the number of pairs matched at each kind.
func greedyMatch(a, b [][]byte, K int) (pairOfA, pairOfB []int, counts []int, err error) {
	at := make(map[[PointSize]byte]int, len(b))
	for i, pt := range b {
		at[[PointSize]byte(pt)] = i
	}
	pairOfA, pairOfB = make([]int, len(a)/K), make([]int, len(b)/K)
	for i := range pairOfA {
		pairOfA[i] = -1
	}
	for j := range pairOfB {
		pairOfB[j] = -1
	}
	counts = make([]int, K)
	for k := range K {
		for s := range pairOfA {
			if pairOfA[s] >= 0 {
				continue
			}
			i, ok := at[[PointSize]byte(a[s*K+k])]
			if !ok {
				continue
			}
			if i%K != k {
				// Kinds hash under distinct tags; equal points of different
				// kinds mean a peer moved points between slots.
				return nil, nil, nil, fmt.Errorf("%w: a key of one kind equals a key of another", ErrInconsistent)
			}
			if j := i / K; pairOfB[j] < 0 {
				pairOfA[s], pairOfB[j] = j, s
				counts[k]++
			}
		}
	}
	return pairOfA, pairOfB, counts, nil
}

// tokens draws one token per union record, R = H_token(r) for 32 fresh
// random bytes r (a random element nobody knows a logarithm of), and builds
// the lists of Tokens.
func (p *MultiKeyA) tokens(pairOfA, pairOfB []int) (*Tokens, error) {
	matched := 0
	for _, j := range pairOfA {
		if j >= 0 {
			matched++
		}
	}
	// Tokens 0 … |X|-1 belong to A's records in σ_B order (shared with the
	// partner for matched ones), the rest to the B-only records.
	u := len(pairOfA) + len(pairOfB) - matched
	ofB := make([]int, len(pairOfB))
	next := len(pairOfA)
	for j, s := range pairOfB {
		if s >= 0 {
			ofB[j] = s
		} else {
			ofB[j], next = next, next+1
		}
	}
	// raised[t] is whether token t also goes out as R^{a'}: every token
	// of a B record (TokensB) and of an A-only record (TokensOnlyA).
	raised := make([]bool, u)
	for _, t := range ofB {
		raised[t] = true
	}
	for s, j := range pairOfA {
		if j < 0 {
			raised[s] = true
		}
	}
	random := make([]byte, u*randomMsgSize)
	defer clear(random)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	plain := make([]byte, u*PointSize)
	power := make([]byte, u*PointSize)
	_ = parallel(u, func(lo, hi int) error {
		var r edwards25519.Point
		n := 0
		for t := lo; t < hi; t++ {
			hashToGroup(&r, random[t*randomMsgSize:(t+1)*randomMsgSize], p.token)
			encodePoint(plain[t*PointSize:(t+1)*PointSize], &r)
			if raised[t] {
				r.ScalarMult(&p.k2.s, &r)
				encodePoint(power[t*PointSize:(t+1)*PointSize], &r)
				n++
			}
		}
		if w := p.k2.work; w != nil {
			w.Add(int64(n))
		}
		return nil
	})
	at := func(buf []byte, t int) []byte { return buf[t*PointSize : (t+1)*PointSize : (t+1)*PointSize] }
	out := &Tokens{A: make([][]byte, len(pairOfA)), B: make([][]byte, len(pairOfB))}
	for s, j := range pairOfA {
		out.A[s] = at(plain, s)
		if j < 0 {
			out.OnlyA = append(out.OnlyA, at(power, s))
		}
	}
	for j, t := range ofB {
		out.B[j] = at(power, t)
		if pairOfB[j] < 0 {
			out.OnlyB = append(out.OnlyB, at(plain, t))
		}
	}
	var err error
	if out.OnlyB, err = shuffle(out.OnlyB); err != nil {
		return nil, err
	}
	if out.OnlyA, err = shuffle(out.OnlyA); err != nil {
		return nil, err
	}
	return out, nil
}

// MatchCounts returns, after Match, the number of pairs matched at each
// kind, in priority order; A learns them from the match graph (README.md,
// Leakage) and may log them.
func (p *MultiKeyA) MatchCounts() []int { return append([]int(nil), p.counts...) }

// Finish is A's output step: from Z_A = TokensA^{b'} in π_A order (message
// TokensADouble) and OnlyB^{b'} (message TokensOnlyBDouble) it raises both to
// a', which validates every point, and lays out the UIDs R^{a'b'} of its own
// records and of the B-only records.
func (p *MultiKeyA) Finish(zA, onlyBDouble [][]byte) (*Layout, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.matched || p.finished {
		return nil, fmt.Errorf("%w: finish needs match first, once", ErrStep)
	}
	if err := checkList(zA, p.n); err != nil {
		return nil, fmt.Errorf("tokens A double: %w", err)
	}
	if err := checkList(onlyBDouble, p.onlyB); err != nil {
		return nil, fmt.Errorf("tokens only B double: %w", err)
	}
	if err := checkDisjoint(zA, onlyBDouble); err != nil {
		return nil, fmt.Errorf("tokens only B double: %w", err)
	}
	pw, err := p.k2.exponentiateLists([]string{"tokens A double", "tokens only B double"}, zA, onlyBDouble)
	if err != nil {
		return nil, err
	}
	l, err := newLayout(p.own(pw[0]), pw[1])
	if err != nil {
		return nil, err
	}
	p.finished = true
	return l, nil
}

// Zero overwrites the keys and drops the permutation and intermediate lists.
func (p *MultiKeyA) Zero() {
	p.zero()
	p.eB = nil
}
