package match

import (
	"fmt"
)

// MultiKeyB is role B of the multi-key protocol in README.md (keys b, b'):
// it reshuffles A's blinded records so that A cannot tell which of its
// records matched, and returns A's tokens in A's order. Create one per
// session with NewMultiKeyB and call Zero when done.
type MultiKeyB struct {
	mkSide
	nA        int
	sigma     []int    // σ_B: shuffled record s is A's blinded record sigma[s]
	ownUIDs   [][]byte // TokensB^{b'}, in B's blinded order
	otherUIDs [][]byte // TokensOnlyA^{b'}
	reblind   bool
	tokens    bool
	finished  bool
}

// NewMultiKeyB draws fresh keys b, b' for one session. dst is DomainTag of
// the session and kinds the key kinds in priority order; both must be the
// same on both sides.
func NewMultiKeyB(dst []byte, kinds []string) (*MultiKeyB, error) {
	s, err := newMKSide(dst, kinds)
	if err != nil {
		return nil, err
	}
	return &MultiKeyB{mkSide: s}, nil
}

// Blind is step 1: for B's records, each with one key slot per kind (nil or
// empty for a missing key), it returns the message KeysBlindedB, K points
// per record in the secret order π_B. The order of records defines the
// record indices of the Layout.
func (p *MultiKeyB) Blind(records [][][]byte) ([][]byte, error) { return p.blindRecords(records) }

// ReblindPeer is B's part of step 2: from A's U_A (message KeysBlindedA) it
// computes E_A = U_A^b and returns its records, each still K consecutive
// points, in a fresh secret order σ_B (message KeysShuffledA).
func (p *MultiKeyB) ReblindPeer(uA [][]byte) ([][]byte, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if p.reblind {
		return nil, fmt.Errorf("%w: reblind called twice", ErrStep)
	}
	nA, err := checkRecordList(uA, p.kinds)
	if err != nil {
		return nil, fmt.Errorf("keys blinded A: %w", err)
	}
	eA, err := p.k.Exponentiate(uA)
	if err != nil {
		return nil, fmt.Errorf("keys blinded A: %w", err)
	}
	sigma, err := randomPermutation(nA)
	if err != nil {
		return nil, err
	}
	K := p.kinds
	out := make([][]byte, len(eA))
	for s, i := range sigma {
		copy(out[s*K:(s+1)*K], eA[i*K:(i+1)*K])
	}
	p.nA, p.sigma, p.reblind = nA, sigma, true
	return out, nil
}

// ReblindTokens is step 4: from A's four token lists (messages TokensA,
// TokensB, TokensOnlyB, TokensOnlyA) it keeps the UIDs of its own records,
// TokensB^{b'}, and of the A-only records, TokensOnlyA^{b'}, and returns
// Z_A = TokensA^{b'} put back from σ_B into A's blinded order (message
// TokensADouble) and TokensOnlyB^{b'} (message TokensOnlyBDouble). All
// lists are validated before anything is returned; the lengths must agree
// with |TokensOnlyB| − |TokensOnlyA| = |Y| − |X|.
func (p *MultiKeyB) ReblindTokens(tokensA, tokensB, onlyB, onlyA [][]byte) (zA, onlyBDouble [][]byte, err error) {
	if err := p.ready(); err != nil {
		return nil, nil, err
	}
	if !p.blinded || !p.reblind || p.tokens {
		return nil, nil, fmt.Errorf("%w: reblind tokens needs blind and reblind first, once", ErrStep)
	}
	if len(onlyB) > p.n || len(onlyA) > p.nA || len(onlyB)-len(onlyA) != p.n-p.nA {
		return nil, nil, fmt.Errorf("%w: %d and %d one-sided tokens for sets of %d and %d",
			ErrLength, len(onlyB), len(onlyA), p.n, p.nA)
	}
	for _, l := range []struct {
		name  string
		list  [][]byte
		want  int
		other [][]byte // an earlier list it must be disjoint from
	}{
		{"tokens A", tokensA, p.nA, nil},
		{"tokens B", tokensB, p.n, nil},
		{"tokens only B", onlyB, len(onlyB), tokensA},
		{"tokens only A", onlyA, len(onlyA), tokensB},
	} {
		if err := checkList(l.list, l.want); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.name, err)
		}
		if err := checkDisjoint(l.other, l.list); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	pw, err := p.k2.exponentiateLists([]string{"tokens A", "tokens B", "tokens only B", "tokens only A"},
		tokensA, tokensB, onlyB, onlyA)
	if err != nil {
		return nil, nil, err
	}
	zA = make([][]byte, p.nA)
	for s, i := range p.sigma {
		zA[i] = pw[0][s]
	}
	p.ownUIDs, p.otherUIDs, p.tokens = pw[1], pw[3], true
	clear(p.sigma)
	p.sigma = nil
	return zA, pw[2], nil
}

// Finish is B's output step: own UIDs π_B⁻¹(TokensB^{b'}) and A-only UIDs
// TokensOnlyA^{b'}, laid out in the union ordering.
func (p *MultiKeyB) Finish() (*Layout, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.tokens || p.finished {
		return nil, fmt.Errorf("%w: finish needs reblind tokens first, once", ErrStep)
	}
	l, err := newLayout(p.own(p.ownUIDs), p.otherUIDs)
	if err != nil {
		return nil, err
	}
	p.ownUIDs, p.otherUIDs, p.finished = nil, nil, true
	return l, nil
}

// Zero overwrites the keys and drops the permutations and intermediate lists.
func (p *MultiKeyB) Zero() {
	p.zero()
	clear(p.sigma)
	p.sigma, p.ownUIDs, p.otherUIDs = nil, nil, nil
}
