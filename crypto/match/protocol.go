package match

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// Errors of the protocol steps.
var (
	// ErrEmpty is returned when a party has no records to match.
	ErrEmpty = errors.New("match: no identifiers")
	// ErrDuplicateIdentifier is returned when one dataset holds the same
	// identifier more than once; that is an input error to report, not to
	// merge silently.
	ErrDuplicateIdentifier = errors.New("match: duplicated identifiers")
	// ErrStep is returned when a step is called twice or before the steps it
	// depends on.
	ErrStep = errors.New("match: protocol step out of order")
	// ErrInconsistent is returned when the peer's messages contradict each
	// other, which an honest peer never causes.
	ErrInconsistent = errors.New("match: inconsistent peer messages")
	// ErrZeroized is returned by every step after Zero.
	ErrZeroized = errors.New("match: party keys already zeroized")
)

// side is the state both roles share: two fresh keys, the hash domain tag and
// the secret permutation of the party's own records.
type side struct {
	dst     []byte
	k, k2   *Key
	perm    []int // own blinded list i is record perm[i]
	n       int   // own record count
	blinded bool
	zeroed  bool
}

func newSide(dst []byte) (side, error) {
	k, err := NewKey()
	if err != nil {
		return side{}, err
	}
	k2, err := NewKey()
	if err != nil {
		k.Zero()
		return side{}, err
	}
	return side{dst: slices.Clone(dst), k: k, k2: k2}, nil
}

func (s *side) ready() error {
	if s.zeroed {
		return ErrZeroized
	}
	return nil
}

// blind is step 1 for either role: π[H(x)^k].
func (s *side) blind(ids [][]byte) ([][]byte, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if s.blinded {
		return nil, fmt.Errorf("%w: blind called twice", ErrStep)
	}
	if len(ids) == 0 {
		return nil, ErrEmpty
	}
	if len(ids) > MaxPoints {
		return nil, fmt.Errorf("%w: %d identifiers", ErrLength, len(ids))
	}
	seen := make(map[string]struct{}, len(ids))
	dups := 0
	for _, id := range ids {
		if _, ok := seen[string(id)]; ok {
			dups++
			continue
		}
		seen[string(id)] = struct{}{}
	}
	if dups > 0 {
		return nil, fmt.Errorf("%w: %d of %d records repeat an earlier identifier", ErrDuplicateIdentifier, dups, len(ids))
	}
	perm, err := randomPermutation(len(ids))
	if err != nil {
		return nil, err
	}
	s.perm, s.n, s.blinded = perm, len(ids), true
	return s.k.hashAndExponentiate(permute(ids, perm), func(int) []byte { return s.dst }), nil
}

// own maps the doubly re-keyed own list (still in blinded order) back to
// record order: uid[perm[i]] = doubled[i].
func (s *side) own(doubled [][]byte) [][]byte {
	uids := make([][]byte, len(doubled))
	for i, p := range s.perm {
		uids[p] = doubled[i]
	}
	return uids
}

// CountWork has the party add to c every scalar multiplication it does,
// as it does them, so that a caller can report the progress of a session
// whose total is Work.
func (s *side) CountWork(c *atomic.Int64) { s.k.work, s.k2.work = c, c }

// Work is the number of scalar multiplications either party does in a
// session of x and y records whose union has u records: x + y to blind,
// 2(x + y) to re-key, and the set differences; 3(x + y) bounds it before
// the union is known.
func Work(x, y, u int) int64 { return int64(x) + int64(y) + 2*int64(u) }

func (s *side) zero() {
	s.k.Zero()
	s.k2.Zero()
	clear(s.perm)
	s.perm = nil
	s.zeroed = true
}

// PartyA is role A of the protocol in README.md (keys a, a'): it computes the set
// differences. Create one per session with NewPartyA and call Zero when done.
type PartyA struct {
	side
	eB       [][]byte // U_B^a, in B's blinded order
	ownUIDs  [][]byte // V_A^{a'}, in A's blinded order
	onlyB    int      // |D_B| = |Y \ X|
	reblind  bool
	diffDone bool
	finished bool
}

// NewPartyA draws fresh keys a, a' for one session; dst is DomainTag of the
// session and must be the same on both sides.
func NewPartyA(dst []byte) (*PartyA, error) {
	s, err := newSide(dst)
	if err != nil {
		return nil, err
	}
	return &PartyA{side: s}, nil
}

// Blind is step 1: it returns U_A = π_A[H(x)^a], the message BlindedA, for
// A's distinct normalized identifiers. The order of ids defines the record
// indices of the Layout.
func (p *PartyA) Blind(ids [][]byte) ([][]byte, error) { return p.blind(ids) }

// ReblindPeer is A's part of step 2: from B's U_B (message BlindedB) it keeps
// E_B = U_B^a and returns V_B = E_B^{a'} in the same order (message
// DoubleB).
func (p *PartyA) ReblindPeer(uB [][]byte) ([][]byte, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if p.reblind {
		return nil, fmt.Errorf("%w: reblind called twice", ErrStep)
	}
	if err := checkList(uB, len(uB)); err != nil {
		return nil, fmt.Errorf("blinded B: %w", err)
	}
	pw, err := exponentiateChain(uB, p.k, p.k2)
	if err != nil {
		return nil, fmt.Errorf("blinded B: %w", err)
	}
	p.eB, p.reblind = pw[0], true
	return pw[1], nil
}

// Differences is step 3: from σ_B(E_A) (message ShuffledA) and V_A (message
// DoubleA) it returns shuffle(D_B) (message OnlyB) and shuffle(D_A^{a'})
// (message OnlyA), where D_B = E_B \ σ_B(E_A) and D_A = σ_B(E_A) \ E_B.
// It also raises V_A to a' for Finish, which validates every point of V_A
// before anything is returned; the points of σ_B(E_A) that are not in D_A
// equal A's own valid encodings of E_B, and those of D_A are validated as
// they are raised to a'.
func (p *PartyA) Differences(shuffledA, vA [][]byte) (onlyB, onlyA [][]byte, err error) {
	if err := p.ready(); err != nil {
		return nil, nil, err
	}
	if !p.blinded || !p.reblind || p.diffDone {
		return nil, nil, fmt.Errorf("%w: differences needs blind and reblind first, once", ErrStep)
	}
	if err := checkList(shuffledA, p.n); err != nil {
		return nil, nil, fmt.Errorf("shuffled A: %w", err)
	}
	if err := checkList(vA, p.n); err != nil {
		return nil, nil, fmt.Errorf("double A: %w", err)
	}
	ownUIDs, err := p.k2.Exponentiate(vA)
	if err != nil {
		return nil, nil, fmt.Errorf("double A: %w", err)
	}
	dB := difference(p.eB, shuffledA)
	dA := difference(shuffledA, p.eB)
	if p.n-len(dA) != len(p.eB)-len(dB) {
		// Cannot happen with duplicate-free lists; kept as a guard.
		return nil, nil, ErrInconsistent
	}
	if onlyB, err = shuffle(dB); err != nil {
		return nil, nil, err
	}
	dA2, err := p.k2.Exponentiate(dA)
	if err != nil {
		return nil, nil, fmt.Errorf("shuffled A: %w", locate(err, dA, shuffledA))
	}
	if onlyA, err = shuffle(dA2); err != nil {
		return nil, nil, err
	}
	p.ownUIDs, p.onlyB, p.diffDone = ownUIDs, len(dB), true
	p.eB = nil
	return onlyB, onlyA, nil
}

// Finish is A's output step: from (D_B)^{b'} (message OnlyBDouble) it derives
// the UIDs of the B-only records, ((D_B)^{b'})^{a'}, places those of its own
// records, π_A⁻¹(V_A^{a'}) (computed by Differences), and returns the union
// layout.
func (p *PartyA) Finish(onlyBDouble [][]byte) (*Layout, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.diffDone || p.finished {
		return nil, fmt.Errorf("%w: finish needs differences first, once", ErrStep)
	}
	if err := checkList(onlyBDouble, p.onlyB); err != nil {
		return nil, fmt.Errorf("only B double: %w", err)
	}
	otherUIDs, err := p.k2.Exponentiate(onlyBDouble)
	if err != nil {
		return nil, fmt.Errorf("only B double: %w", err)
	}
	l, err := newLayout(p.own(p.ownUIDs), otherUIDs)
	if err != nil {
		return nil, err
	}
	p.ownUIDs, p.finished = nil, true
	return l, nil
}

// Zero overwrites the keys and drops the permutation and intermediate lists.
func (p *PartyA) Zero() {
	p.zero()
	p.eB, p.ownUIDs = nil, nil
}

// PartyB is role B of the protocol in README.md (keys b, b'): it reshuffles A's
// list so that A cannot tell which of its records matched. Create one per
// session with NewPartyB and call Zero when done.
type PartyB struct {
	side
	nA        int
	ownUIDs   [][]byte // V_B^{b'}, in B's blinded order
	otherUIDs [][]byte // (D_A^{a'})^{b'}
	reblind   bool
	gotDouble bool
	onlyDone  bool
	finished  bool
}

// NewPartyB draws fresh keys b, b' for one session; dst is DomainTag of the
// session and must be the same on both sides.
func NewPartyB(dst []byte) (*PartyB, error) {
	s, err := newSide(dst)
	if err != nil {
		return nil, err
	}
	return &PartyB{side: s}, nil
}

// Blind is step 1: it returns U_B = π_B[H(y)^b], the message BlindedB, for
// B's distinct normalized identifiers. The order of ids defines the record
// indices of the Layout.
func (p *PartyB) Blind(ids [][]byte) ([][]byte, error) { return p.blind(ids) }

// ReblindPeer is B's part of step 2: from A's U_A (message BlindedA) it
// computes E_A = U_A^b and returns σ_B(E_A), freshly shuffled (message
// ShuffledA), and V_A = E_A^{b'} in the order received (message DoubleA).
func (p *PartyB) ReblindPeer(uA [][]byte) (shuffledA, vA [][]byte, err error) {
	if err := p.ready(); err != nil {
		return nil, nil, err
	}
	if p.reblind {
		return nil, nil, fmt.Errorf("%w: reblind called twice", ErrStep)
	}
	if err := checkList(uA, len(uA)); err != nil {
		return nil, nil, fmt.Errorf("blinded A: %w", err)
	}
	pw, err := exponentiateChain(uA, p.k, p.k2)
	if err != nil {
		return nil, nil, fmt.Errorf("blinded A: %w", err)
	}
	if shuffledA, err = shuffle(pw[0]); err != nil {
		return nil, nil, err
	}
	p.nA, p.reblind = len(uA), true
	return shuffledA, pw[1], nil
}

// AcceptDouble is B's receipt of V_B = E_B^{a'} (message DoubleB), which must
// match B's own record count. It raises V_B to b' at once, which validates
// every point and gives B the UIDs of its own records while A computes the
// set differences.
func (p *PartyB) AcceptDouble(vB [][]byte) error {
	if err := p.ready(); err != nil {
		return err
	}
	if !p.blinded || p.gotDouble {
		return fmt.Errorf("%w: accept double needs blind first, once", ErrStep)
	}
	if err := checkList(vB, p.n); err != nil {
		return fmt.Errorf("double B: %w", err)
	}
	ownUIDs, err := p.k2.Exponentiate(vB)
	if err != nil {
		return fmt.Errorf("double B: %w", err)
	}
	p.ownUIDs, p.gotDouble = ownUIDs, true
	return nil
}

// ReblindOnlyB is step 4: from shuffle(D_B) (message OnlyB) and
// shuffle(D_A^{a'}) (message OnlyA) it returns (D_B)^{b'} (message
// OnlyBDouble) and keeps (D_A^{a'})^{b'}, the UIDs of the A-only records;
// both lists are validated before anything is returned. The lengths must agree with
// |D_B| − |D_A| = |Y| − |X|, the only relation B can check.
func (p *PartyB) ReblindOnlyB(onlyB, onlyA [][]byte) ([][]byte, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.blinded || !p.reblind || p.onlyDone {
		return nil, fmt.Errorf("%w: reblind only-B needs blind and reblind first, once", ErrStep)
	}
	if len(onlyB) > p.n || len(onlyA) > p.nA || len(onlyB)-len(onlyA) != p.n-p.nA {
		return nil, fmt.Errorf("%w: set differences of %d and %d points for sets of %d and %d",
			ErrLength, len(onlyB), len(onlyA), p.n, p.nA)
	}
	if err := checkList(onlyB, len(onlyB)); err != nil {
		return nil, fmt.Errorf("only B: %w", err)
	}
	if err := checkList(onlyA, len(onlyA)); err != nil {
		return nil, fmt.Errorf("only A: %w", err)
	}
	out, err := p.k2.Exponentiate(onlyB)
	if err != nil {
		return nil, fmt.Errorf("only B: %w", err)
	}
	otherUIDs, err := p.k2.Exponentiate(onlyA)
	if err != nil {
		return nil, fmt.Errorf("only A: %w", err)
	}
	p.otherUIDs, p.onlyDone = otherUIDs, true
	return out, nil
}

// Finish is B's output step: own UIDs π_B⁻¹(V_B^{b'}) and A-only UIDs
// (D_A^{a'})^{b'}, laid out in the union ordering.
func (p *PartyB) Finish() (*Layout, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if !p.gotDouble || !p.onlyDone || p.finished {
		return nil, fmt.Errorf("%w: finish needs accept double and reblind only-B first, once", ErrStep)
	}
	l, err := newLayout(p.own(p.ownUIDs), p.otherUIDs)
	if err != nil {
		return nil, err
	}
	p.ownUIDs, p.otherUIDs, p.finished = nil, nil, true
	return l, nil
}

// Zero overwrites the keys and drops the permutation and intermediate lists.
func (p *PartyB) Zero() {
	p.zero()
	p.ownUIDs, p.otherUIDs = nil, nil
}

// locate translates the index of a PointError in sub, a subsequence of
// list, into the index of the same point in list, so that errors name the
// position in the message the peer sent.
func locate(err error, sub, list [][]byte) error {
	var pe *PointError
	if !errors.As(err, &pe) || pe.Index < 0 || pe.Index >= len(sub) {
		return err
	}
	for i, p := range list {
		if bytes.Equal(p, sub[pe.Index]) {
			return &PointError{Index: i, Err: pe.Err}
		}
	}
	return err
}

// difference returns the points of a that are not in b, by byte equality, in
// the order of a.
func difference(a, b [][]byte) [][]byte {
	in := make(map[[PointSize]byte]struct{}, len(b))
	for _, p := range b {
		in[[PointSize]byte(p)] = struct{}{}
	}
	var out [][]byte
	for _, p := range a {
		if _, ok := in[[PointSize]byte(p)]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// newLayout sorts own and other UIDs together by encoding and records the
// union row of each own record.
func newLayout(own, other [][]byte) (*Layout, error) {
	type entry struct {
		uid []byte
		rec int // own record index, -1 for the peer's
	}
	all := make([]entry, 0, len(own)+len(other))
	for j, u := range own {
		all = append(all, entry{u, j})
	}
	for _, u := range other {
		all = append(all, entry{u, -1})
	}
	slices.SortFunc(all, func(x, y entry) int { return bytes.Compare(x.uid, y.uid) })
	l := &Layout{UnionSize: len(all), Rows: make([]int, len(own))}
	for i, e := range all {
		if i > 0 && bytes.Equal(all[i-1].uid, e.uid) {
			// The same UID twice means the peer returned a point of the
			// intersection as a one-sided one.
			return nil, fmt.Errorf("%w: repeated UID in the union", ErrInconsistent)
		}
		if e.rec >= 0 {
			l.Rows[e.rec] = i
		}
	}
	return l, nil
}
