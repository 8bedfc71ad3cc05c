package match

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/edwards25519"
)

// mkRun is one multi-key session run in process: both layouts, the wire
// transcript and what A learned of the match graph.
type mkRun struct {
	la, lb *Layout
	tr     transcript
	counts []int
}

func newMultiKeyParties(tb testing.TB, dst []byte, kinds []string) (*MultiKeyA, *MultiKeyB) {
	tb.Helper()
	a, err := NewMultiKeyA(dst, kinds)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := NewMultiKeyB(dst, kinds)
	if err != nil {
		tb.Fatal(err)
	}
	return a, b
}

// runMultiKey drives both roles through the multi-key protocol of
// README.md, every list crossing the wire in chunks through a Receiver, and
// checks that both parties count MultiKeyWork.
func runMultiKey(t *testing.T, dst []byte, kinds []string, x, y [][][]byte) mkRun {
	t.Helper()
	tr := transcript{}
	a, b := newMultiKeyParties(t, dst, kinds)
	defer a.Zero()
	defer b.Zero()
	var workA, workB atomic.Int64
	a.CountWork(&workA)
	b.CountWork(&workB)

	uA, uB := blindBoth(t, a, b, x, y)
	shA, err := b.ReblindPeer(tr.send(t, MsgKeysBlindedA, uA))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReblindPeer(tr.send(t, MsgKeysBlindedB, uB)); err != nil {
		t.Fatal(err)
	}
	tok, err := a.Match(tr.send(t, MsgKeysShuffledA, shA))
	if err != nil {
		t.Fatal(err)
	}
	zA, onlyB2, err := b.ReblindTokens(tr.send(t, MsgTokensA, tok.A), tr.send(t, MsgTokensB, tok.B),
		tr.send(t, MsgTokensOnlyB, tok.OnlyB), tr.send(t, MsgTokensOnlyA, tok.OnlyA))
	if err != nil {
		t.Fatal(err)
	}
	la, err := a.Finish(tr.send(t, MsgTokensADouble, zA), tr.send(t, MsgTokensOnlyBDouble, onlyB2))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := MultiKeyWork(len(kinds), len(x), len(y), la.UnionSize)
	if workA.Load() != want || workB.Load() != want {
		t.Errorf("work counted: A %d, B %d; MultiKeyWork = %d", workA.Load(), workB.Load(), want)
	}
	return mkRun{la: la, lb: lb, tr: tr, counts: a.MatchCounts()}
}

// mkOracle is the match rule of README.md on plaintext records: keys
// repeated within one side are ignored, then, kind by kind in priority
// order, records still unmatched on both sides that carry the same key of
// that kind are paired. It returns the partner in y of each record of x
// (-1 for none) and the number of pairs per kind.
func mkOracle(kinds int, x, y [][][]byte) (partner []int, perKind []int) {
	usable := func(recs [][][]byte, j, k int) bool {
		if len(recs[j][k]) == 0 {
			return false
		}
		n := 0
		for _, r := range recs {
			if bytes.Equal(r[k], recs[j][k]) {
				n++
			}
		}
		return n == 1
	}
	partner = slices.Repeat([]int{-1}, len(x))
	taken := make([]bool, len(y))
	perKind = make([]int, kinds)
	for k := range kinds {
		for i := range x {
			if partner[i] >= 0 || !usable(x, i, k) {
				continue
			}
			for j := range y {
				if !taken[j] && usable(y, j, k) && bytes.Equal(x[i][k], y[j][k]) {
					partner[i], taken[j] = j, true
					perKind[k]++
					break
				}
			}
		}
	}
	return partner, perKind
}

// checkAgainstOracle compares both layouts with the oracle: the union size,
// and for every record of x the record of y it shares its row with, if any.
func checkAgainstOracle(t *testing.T, kinds int, x, y [][][]byte, r mkRun) {
	t.Helper()
	partner, perKind := mkOracle(kinds, x, y)
	m := 0
	for _, j := range partner {
		if j >= 0 {
			m++
		}
	}
	for name, l := range map[string]*Layout{"A": r.la, "B": r.lb} {
		if err := l.validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.UnionSize != len(x)+len(y)-m {
			t.Fatalf("%s: union %d, want %d", name, l.UnionSize, len(x)+len(y)-m)
		}
	}
	if len(r.la.Rows) != len(x) || len(r.lb.Rows) != len(y) {
		t.Fatalf("row counts %d, %d for %d, %d records", len(r.la.Rows), len(r.lb.Rows), len(x), len(y))
	}
	rowOfB := map[int]int{}
	for j, row := range r.lb.Rows {
		rowOfB[row] = j
	}
	for i, row := range r.la.Rows {
		got, ok := rowOfB[row]
		if !ok {
			got = -1
		}
		if got != partner[i] {
			t.Fatalf("A record %d shares its row with B record %d, want %d", i, got, partner[i])
		}
	}
	if !slices.Equal(r.counts, perKind) {
		t.Fatalf("pairs per kind %v, want %v", r.counts, perKind)
	}
}

// lostEdges counts the pairs of records, one per side, that carry an equal
// usable key of some kind yet are not paired with each other by the rule.
func lostEdges(kinds int, x, y [][][]byte) int {
	partner, _ := mkOracle(kinds, x, y)
	n := 0
	for i := range x {
		for j := range y {
			for k := range kinds {
				if len(x[i][k]) > 0 && bytes.Equal(x[i][k], y[j][k]) && partner[i] != j &&
					sharedKeys(1, column(x, k, x[i][k])) == 0 && sharedKeys(1, column(y, k, y[j][k])) == 0 {
					n++
				}
			}
		}
	}
	return n
}

// column returns, as one-kind records, the keys of kind k of recs equal to v.
func column(recs [][][]byte, k int, v []byte) [][][]byte {
	var out [][][]byte
	for _, r := range recs {
		if bytes.Equal(r[k], v) {
			out = append(out, [][]byte{r[k]})
		}
	}
	return out
}

// sharedKeys counts the keys that another record of the same side also
// carries, for the same kind.
func sharedKeys(kinds int, recs [][][]byte) int {
	_, dropped, err := usableKeys(recs, kinds)
	if err != nil {
		panic(err)
	}
	n := 0
	for _, d := range dropped {
		n += d
	}
	return n
}

// mkParams shape a random pair of datasets.
type mkParams struct {
	nx, ny  int
	kinds   int
	overlap float64 // share of min(nx, ny) that are the same people
	miss    float64 // probability that a key is missing
	stale   float64 // probability that a key is another person's or a fresh one
	dup     float64 // probability that a key is copied from another own record
}

// mkDataset draws records of people: person p's key of every kind is the
// same string, so that the data also checks that kinds never match across.
func mkDataset(seed uint64, pr mkParams, salt string) (x, y [][][]byte) {
	rng := rand.New(rand.NewPCG(seed, 0x6d6b))
	common := int(pr.overlap * float64(min(pr.nx, pr.ny)))
	universe := pr.nx + pr.ny - common
	key := func(p int) []byte { return fmt.Appendf(nil, "%sp%d@example.com", salt, p) }
	fresh := 0
	record := func(p int) [][]byte {
		r := make([][]byte, pr.kinds)
		for k := range r {
			switch u := rng.Float64(); {
			case u < pr.miss:
			case u < pr.miss+pr.stale:
				if rng.IntN(2) == 0 {
					r[k] = key(rng.IntN(universe))
				} else {
					fresh++
					r[k] = fmt.Appendf(nil, "%sfresh%d@example.com", salt, fresh)
				}
			default:
				r[k] = key(p)
			}
		}
		return r
	}
	for p := range pr.nx {
		x = append(x, record(p))
	}
	for p := range pr.ny {
		if p >= common {
			p += pr.nx - common
		}
		y = append(y, record(p))
	}
	for _, side := range [][][][]byte{x, y} {
		for j := range side {
			for k := range pr.kinds {
				if rng.Float64() < pr.dup {
					side[j][k] = side[rng.IntN(len(side))][k]
				}
			}
		}
		rng.Shuffle(len(side), func(i, j int) { side[i], side[j] = side[j], side[i] })
	}
	return x, y
}

func TestMultiKeyOracle(t *testing.T) {
	dst := DomainTag("test-federation", []byte("mk-session-1"))
	seed := uint64(0)
	// The data must exercise the rule's hard cases: equal keys whose records
	// end up unpaired or paired with others (conflicts), and keys shared
	// within one side.
	lost, shared := 0, 0
	defer func() {
		if !t.Failed() && (lost == 0 || shared == 0) {
			t.Errorf("the datasets hold %d conflicting equal keys and %d shared keys; want both", lost, shared)
		}
	}()
	for _, kinds := range [][]string{{"email", "phone"}, {"email", "phone", "id"}} {
		for _, overlap := range []float64{0, 0.25, 0.5, 0.75, 1} {
			for _, pr := range []mkParams{
				{nx: 30, ny: 24},
				{nx: 20, ny: 36, miss: 0.3},
				{nx: 32, ny: 32, miss: 0.2, stale: 0.2, dup: 0.05},
				{nx: 24, ny: 24, miss: 0.1, stale: 0.4, dup: 0.15},
			} {
				pr.kinds, pr.overlap = len(kinds), overlap
				seed++
				name := fmt.Sprintf("K=%d/overlap=%.2f/nx=%d/ny=%d/miss=%.1f/stale=%.1f/dup=%.2f",
					pr.kinds, overlap, pr.nx, pr.ny, pr.miss, pr.stale, pr.dup)
				t.Run(name, func(t *testing.T) {
					x, y := mkDataset(seed, pr, "")
					checkAgainstOracle(t, len(kinds), x, y, runMultiKey(t, dst, kinds, x, y))
					lost += lostEdges(len(kinds), x, y)
					shared += sharedKeys(len(kinds), x) + sharedKeys(len(kinds), y)
				})
			}
		}
	}
}

// TestMultiKeyRule pins the match rule on small cases, through the oracle
// and the protocol: priority between kinds, conflicts, keys repeated within
// one side, missing keys, and no match across kinds.
func TestMultiKeyRule(t *testing.T) {
	dst := DomainTag("test-federation", []byte("mk-session-2"))
	r := func(keys ...string) [][]byte {
		out := make([][]byte, len(keys))
		for k, v := range keys {
			if v != "" {
				out[k] = []byte(v)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		kinds   []string
		x, y    [][][]byte
		partner []int // partner in y of each record of x
	}{
		{"e-mail match", []string{"email", "phone"},
			[][][]byte{r("e1", "p1")}, [][][]byte{r("e1", "p9")}, []int{0}},
		{"phone when e-mail missing", []string{"email", "phone"},
			[][][]byte{r("", "p1")}, [][][]byte{r("e1", "p1")}, []int{0}},
		{"conflict: e-mail beats phone", []string{"email", "phone"},
			[][][]byte{r("e1", "p1")}, [][][]byte{r("e2", "p1"), r("e1", "p2")}, []int{1}},
		{"conflict: phone first when it has priority", []string{"phone", "email"},
			[][][]byte{r("p1", "e1")}, [][][]byte{r("p1", "e2"), r("p2", "e1")}, []int{0}},
		{"conflict: the loser stays single", []string{"email", "phone"},
			[][][]byte{r("e1", "p1"), r("e2", "p2")}, [][][]byte{r("e2", "p1")}, []int{-1, 0}},
		{"conflict: the loser matches on a lower kind", []string{"email", "phone"},
			[][][]byte{r("e1", "p1"), r("e2", "p2")}, [][][]byte{r("e1", "p2"), r("e3", "p1")}, []int{0, -1}},
		{"phone shared by two own records is ignored", []string{"email", "phone"},
			[][][]byte{r("e1", "p1"), r("e2", "p1")}, [][][]byte{r("", "p1")}, []int{-1, -1}},
		{"shared phone, distinct e-mails still match", []string{"email", "phone"},
			[][][]byte{r("e1", "p1"), r("e2", "p1")}, [][][]byte{r("e2", "p1")}, []int{-1, 0}},
		{"shared on the other side", []string{"email", "phone"},
			[][][]byte{r("", "p1")}, [][][]byte{r("e1", "p1"), r("e2", "p1")}, []int{-1}},
		{"same bytes, different kinds", []string{"email", "phone"},
			[][][]byte{r("v1", "")}, [][][]byte{r("", "v1")}, []int{-1}},
		{"records without keys", []string{"email", "phone"},
			[][][]byte{r("", ""), r("e1", "")}, [][][]byte{r("", ""), r("e1", "p1")}, []int{-1, 1}},
		{"identical records on one side", []string{"email", "phone"},
			[][][]byte{r("e1", "p1"), r("e1", "p1")}, [][][]byte{r("e1", "p1")}, []int{-1, -1}},
		{"three kinds, lowest decides", []string{"email", "phone", "id"},
			[][][]byte{r("e1", "p1", "c1"), r("e2", "p2", "c2")}, [][][]byte{r("e3", "p3", "c2"), r("", "", "c1")}, []int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := mkOracle(len(tc.kinds), tc.x, tc.y); !slices.Equal(got, tc.partner) {
				t.Fatalf("oracle pairs %v, want %v", got, tc.partner)
			}
			checkAgainstOracle(t, len(tc.kinds), tc.x, tc.y, runMultiKey(t, dst, tc.kinds, tc.x, tc.y))
		})
	}
}

// TestMultiKeyMessageShapes checks that message lengths are fixed by K,
// |X|, |Y| and the number of pairs m alone: two runs with different people,
// different missing, stale and shared keys but equal K, |X|, |Y| and m put
// the same number of bytes in every message.
func TestMultiKeyMessageShapes(t *testing.T) {
	dst := DomainTag("test-federation", []byte("mk-session-3"))
	kinds := []string{"email", "phone"}
	const nx, ny = 50, 40
	x1, y1 := mkDataset(11, mkParams{nx: nx, ny: ny, kinds: 2, overlap: 0.5}, "r1")
	// The second run: more people in common but most of their keys missing
	// or wrong, so that m comes out the same with other key counts.
	var x2, y2 [][][]byte
	m1 := pairs(mkOracle(2, x1, y1))
	for seed := uint64(100); ; seed++ {
		x2, y2 = mkDataset(seed, mkParams{nx: nx, ny: ny, kinds: 2, overlap: 0.9, miss: 0.35, stale: 0.1, dup: 0.05}, "r2")
		if pairs(mkOracle(2, x2, y2)) == m1 {
			break
		}
	}
	r1 := runMultiKey(t, dst, kinds, x1, y1)
	r2 := runMultiKey(t, dst, kinds, x2, y2)
	want := map[Message]int{
		MsgKeysBlindedA:      2 * nx,
		MsgKeysBlindedB:      2 * ny,
		MsgKeysShuffledA:     2 * nx,
		MsgTokensA:           nx,
		MsgTokensB:           ny,
		MsgTokensOnlyB:       ny - m1,
		MsgTokensOnlyA:       nx - m1,
		MsgTokensADouble:     nx,
		MsgTokensOnlyBDouble: ny - m1,
	}
	if len(r1.tr) != len(want) {
		t.Fatalf("%d messages, want %d", len(r1.tr), len(want))
	}
	for name, n := range want {
		if len(r1.tr[name]) != n*PointSize || len(r2.tr[name]) != n*PointSize {
			t.Errorf("%s: %d and %d bytes, want %d", name, len(r1.tr[name]), len(r2.tr[name]), n*PointSize)
		}
	}
}

func pairs(partner []int, _ []int) int {
	m := 0
	for _, j := range partner {
		if j >= 0 {
			m++
		}
	}
	return m
}

// TestMultiKeyLeakage checks the wire for what must never be on it: the
// keys, and their unblinded hashes under any kind's tag.
func TestMultiKeyLeakage(t *testing.T) {
	dst := DomainTag("test-federation", []byte("mk-session-4"))
	kinds := []string{"email", "phone"}
	x, y := mkDataset(21, mkParams{nx: 40, ny: 40, kinds: 2, overlap: 0.5, miss: 0.2, stale: 0.2}, "")
	r := runMultiKey(t, dst, kinds, x, y)
	hashes := map[[PointSize]byte]bool{}
	var keys [][]byte
	for _, rec := range slices.Concat(x, y) {
		for _, v := range rec {
			if len(v) == 0 {
				continue
			}
			keys = append(keys, v)
			for _, kind := range kinds {
				hashes[[PointSize]byte(HashToGroup(v, KindTag(dst, kind)))] = true
			}
		}
	}
	for name, wire := range r.tr {
		for _, v := range keys {
			if bytes.Contains(wire, v) {
				t.Fatalf("%s carries a key", name)
			}
		}
		for i := 0; i+PointSize <= len(wire); i += PointSize {
			if hashes[[PointSize]byte(wire[i:i+PointSize])] {
				t.Fatalf("%s carries an unblinded hash", name)
			}
		}
	}
}

// TestMultiKeyShuffles checks that B's reshuffle keeps each record's K
// points together and in slot order but moves the records.
func TestMultiKeyShuffles(t *testing.T) {
	dst := DomainTag("f", nil)
	x, _ := mkDataset(31, mkParams{nx: 200, ny: 1, kinds: 2}, "")
	a, b := newMultiKeyParties(t, dst, []string{"email", "phone"})
	uA, err := a.Blind(x)
	if err != nil {
		t.Fatal(err)
	}
	shA, err := b.ReblindPeer(uA)
	if err != nil {
		t.Fatal(err)
	}
	eA, err := b.k.Exponentiate(uA)
	if err != nil {
		t.Fatal(err)
	}
	record := map[[2 * PointSize]byte]bool{}
	for i := 0; i < len(eA); i += 2 {
		record[[2 * PointSize]byte(slices.Concat(eA[i], eA[i+1]))] = true
	}
	for i := 0; i < len(shA); i += 2 {
		if !record[[2 * PointSize]byte(slices.Concat(shA[i], shA[i+1]))] {
			t.Fatalf("shuffled record %d is not a record of E_A", i/2)
		}
	}
	// A uniform permutation of 200 has on average one fixed point; 10 or
	// more happen with probability below 1e-6.
	if fixed := fixedPoints(eA, shA); fixed >= 20 {
		t.Errorf("σ_B(E_A) keeps %d points in place: not reshuffled", fixed)
	}
	inOrder := a.k.hashAndExponentiate([][]byte{x[0][0], x[1][0], x[2][0]}, func(int) []byte { return a.tags[0] })
	if n := fixedPoints(inOrder, [][]byte{uA[0], uA[2], uA[4]}); n == 3 {
		t.Error("U_A is in record order")
	}
}

func TestMultiKeyMessageNames(t *testing.T) {
	names := map[string]bool{}
	fromA := 0
	for m := MsgBlindedA; m <= MsgTokensOnlyBDouble; m++ {
		if names[m.String()] || m.String() == "Message(?)" {
			t.Fatalf("message %d has no unique name", m)
		}
		names[m.String()] = true
		if m.MultiKey() && m.FromA() {
			fromA++
		}
	}
	if fromA != 5 || MsgOnlyBDouble.MultiKey() || !MsgKeysBlindedA.MultiKey() || (MsgTokensOnlyBDouble + 1).MultiKey() {
		t.Fatalf("%d multi-key messages from A, want 5", fromA)
	}
}

// TestMultiKeyStepsValidateEveryList corrupts one point of each list a
// party receives and checks that the step consuming it rejects the list
// with the sentinel and the point's index before returning any result; a
// failed step changes no state, so the honest list is accepted afterwards.
func TestMultiKeyStepsValidateEveryList(t *testing.T) {
	kinds := []string{"email", "phone"}
	for _, bad := range []struct {
		name  string
		point func(list [][]byte) []byte
		want  error
	}{
		{"non-canonical", func([][]byte) []byte { return mustHex(t, rfc9496Invalid[2].hex) }, ErrNonCanonical},
		{"identity", func([][]byte) []byte { return make([]byte, PointSize) }, ErrIdentity},
		{"duplicate", func(l [][]byte) []byte { return l[0] }, ErrDuplicatePoint},
	} {
		t.Run(bad.name, func(t *testing.T) {
			dst := DomainTag("f", nil)
			x, y := mkDataset(41, mkParams{nx: 20, ny: 18, kinds: 2, overlap: 0.5, miss: 0.2}, "")
			a, b := newMultiKeyParties(t, dst, kinds)
			defer a.Zero()
			defer b.Zero()
			check := func(msg Message, list [][]byte, i int, step func([][]byte) error) {
				t.Helper()
				rejectsPoint(t, bad.want, msg, list, i, bad.point(list), step)
			}
			uA, uB := blindBoth(t, a, b, x, y)
			check(MsgKeysBlindedA, uA, 7, func(l [][]byte) error {
				sh, err := b.ReblindPeer(l)
				if sh != nil {
					t.Error("B returned points for a bad U_A")
				}
				return err
			})
			shA, err := b.ReblindPeer(uA)
			if err != nil {
				t.Fatal(err)
			}
			check(MsgKeysBlindedB, uB, 35, a.ReblindPeer)
			if err := a.ReblindPeer(uB); err != nil {
				t.Fatal(err)
			}
			check(MsgKeysShuffledA, shA, 11, func(l [][]byte) error {
				tok, err := a.Match(l)
				if tok != nil {
					t.Error("A returned tokens for a bad σ_B(E_A)")
				}
				return err
			})
			tok, err := a.Match(shA)
			if err != nil {
				t.Fatal(err)
			}
			reblind := func(ta, tb, ob, oa [][]byte) error {
				z, d, err := b.ReblindTokens(ta, tb, ob, oa)
				if z != nil || d != nil {
					t.Error("B returned tokens for a bad list")
				}
				return err
			}
			check(MsgTokensA, tok.A, 3, func(l [][]byte) error { return reblind(l, tok.B, tok.OnlyB, tok.OnlyA) })
			check(MsgTokensB, tok.B, 17, func(l [][]byte) error { return reblind(tok.A, l, tok.OnlyB, tok.OnlyA) })
			check(MsgTokensOnlyB, tok.OnlyB, 1, func(l [][]byte) error { return reblind(tok.A, tok.B, l, tok.OnlyA) })
			check(MsgTokensOnlyA, tok.OnlyA, 2, func(l [][]byte) error { return reblind(tok.A, tok.B, tok.OnlyB, l) })
			zA, onlyB2, err := b.ReblindTokens(tok.A, tok.B, tok.OnlyB, tok.OnlyA)
			if err != nil {
				t.Fatal(err)
			}
			finish := func(z, d [][]byte) error {
				l, err := a.Finish(z, d)
				if l != nil {
					t.Error("A returned a layout for a bad list")
				}
				return err
			}
			check(MsgTokensADouble, zA, 19, func(l [][]byte) error { return finish(l, onlyB2) })
			check(MsgTokensOnlyBDouble, onlyB2, 1, func(l [][]byte) error { return finish(zA, l) })
			la, err := a.Finish(zA, onlyB2)
			if err != nil {
				t.Fatal(err)
			}
			lb, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstOracle(t, 2, x, y, mkRun{la: la, lb: lb, counts: a.MatchCounts()})
		})
	}
}

// TestMultiKeyPeerLengths feeds each step lists of the wrong length, or
// token lists that overlap, and expects ErrLength or ErrDuplicatePoint.
func TestMultiKeyPeerLengths(t *testing.T) {
	dst := DomainTag("f", nil)
	kinds := []string{"email", "phone"}
	x, y := mkDataset(42, mkParams{nx: 12, ny: 10, kinds: 2, overlap: 0.5}, "")
	a, b := newMultiKeyParties(t, dst, kinds)
	defer a.Zero()
	defer b.Zero()
	uA, uB := blindBoth(t, a, b, x, y)
	for name, l := range map[string][][]byte{"odd": uA[1:], "empty": nil} {
		if _, err := b.ReblindPeer(l); !errors.Is(err, ErrLength) {
			t.Errorf("%s U_A: %v", name, err)
		}
		if err := a.ReblindPeer(l); !errors.Is(err, ErrLength) {
			t.Errorf("%s U_B: %v", name, err)
		}
	}
	shA, _ := b.ReblindPeer(uA)
	_ = a.ReblindPeer(uB)
	if _, err := a.Match(shA[2:]); !errors.Is(err, ErrLength) {
		t.Errorf("short σ_B(E_A): %v", err)
	}
	tok, err := a.Match(shA)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.OnlyB) == 0 || len(tok.OnlyA) == 0 {
		t.Fatal("want one-sided records on both sides")
	}
	for name, args := range map[string][4][][]byte{
		"short A":           {tok.A[1:], tok.B, tok.OnlyB, tok.OnlyA},
		"short B":           {tok.A, tok.B[1:], tok.OnlyB, tok.OnlyA},
		"only B":            {tok.A, tok.B, tok.OnlyB[1:], tok.OnlyA},
		"only A":            {tok.A, tok.B, tok.OnlyB, append(slices.Clone(tok.OnlyA), tok.OnlyA[0])},
		"only B too long":   {tok.A, tok.B, slices.Concat(tok.OnlyB, tok.B), slices.Concat(tok.OnlyA, tok.B)},
		"only B overlaps A": {tok.A, tok.B, append(slices.Clone(tok.OnlyB[1:]), tok.A[3]), tok.OnlyA},
		"only A overlaps B": {tok.A, tok.B, tok.OnlyB, append(slices.Clone(tok.OnlyA[1:]), tok.B[0])},
	} {
		want := ErrLength
		if strings.Contains(name, "overlaps") {
			want = ErrDuplicatePoint
		}
		if _, _, err := b.ReblindTokens(args[0], args[1], args[2], args[3]); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	zA, onlyB2, err := b.ReblindTokens(tok.A, tok.B, tok.OnlyB, tok.OnlyA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(zA, onlyB2[1:]); !errors.Is(err, ErrLength) {
		t.Errorf("short only-B double: %v", err)
	}
	if _, err := a.Finish(zA, append(slices.Clone(onlyB2[1:]), zA[0])); !errors.Is(err, ErrDuplicatePoint) {
		t.Errorf("only-B double overlapping Z_A: %v", err)
	}
	if _, err := a.Finish(zA, onlyB2); err != nil {
		t.Fatal(err)
	}
}

// TestMultiKeyInputs checks the errors for bad kinds and records; none
// carries a key.
func TestMultiKeyInputs(t *testing.T) {
	dst := DomainTag("f", nil)
	for name, kinds := range map[string][]string{
		"none":     nil,
		"unnamed":  {"email", ""},
		"repeated": {"email", "phone", "email"},
		"too many": slices.Repeat([]string{"k"}, MaxKinds+1),
	} {
		if _, err := NewMultiKeyA(dst, kinds); !errors.Is(err, ErrKinds) {
			t.Errorf("kinds %s: %v", name, err)
		}
		if _, err := NewMultiKeyB(dst, kinds); !errors.Is(err, ErrKinds) {
			t.Errorf("kinds %s: %v", name, err)
		}
	}
	secret := []byte("secret.person@example.com")
	for _, tc := range []struct {
		name    string
		records [][][]byte
		want    error
	}{
		{"empty", nil, ErrEmpty},
		{"short record", [][][]byte{{secret, nil}, {secret}}, ErrRecordKeys},
		{"long record", [][][]byte{{secret, nil, secret}}, ErrRecordKeys},
	} {
		a, err := NewMultiKeyA(dst, []string{"email", "phone"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Blind(tc.records)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		} else if bytes.Contains([]byte(err.Error()), secret) {
			t.Errorf("%s: error text carries a key", tc.name)
		}
	}
	a, _ := NewMultiKeyA(dst, []string{"email", "phone"})
	if _, err := a.Blind([][][]byte{{secret, []byte("p")}, {secret, nil}, {nil, nil}}); err != nil {
		t.Fatal(err)
	}
	if got := a.Dropped(); !slices.Equal(got, []int{2, 0}) {
		t.Errorf("dropped keys %v, want [2 0]", got)
	}
}

func TestMultiKeyStepOrder(t *testing.T) {
	dst := DomainTag("f", nil)
	kinds := []string{"email", "phone"}
	x, y := mkDataset(43, mkParams{nx: 8, ny: 8, kinds: 2, overlap: 0.5}, "")
	a, b := newMultiKeyParties(t, dst, kinds)
	if _, err := a.Match(nil); !errors.Is(err, ErrStep) {
		t.Errorf("A match first: %v", err)
	}
	if _, err := a.Finish(nil, nil); !errors.Is(err, ErrStep) {
		t.Errorf("A finish first: %v", err)
	}
	if _, _, err := b.ReblindTokens(nil, nil, nil, nil); !errors.Is(err, ErrStep) {
		t.Errorf("B reblind tokens first: %v", err)
	}
	if _, err := b.Finish(); !errors.Is(err, ErrStep) {
		t.Errorf("B finish first: %v", err)
	}
	if _, err := a.Blind(x); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Blind(x); !errors.Is(err, ErrStep) {
		t.Errorf("A blind twice: %v", err)
	}
	uB, err := b.Blind(y)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReblindPeer(uB); err != nil {
		t.Fatal(err)
	}
	if err := a.ReblindPeer(uB); !errors.Is(err, ErrStep) {
		t.Errorf("A reblind twice: %v", err)
	}
	a.Zero()
	b.Zero()
	if _, err := a.Match(nil); !errors.Is(err, ErrZeroized) {
		t.Errorf("A after zero: %v", err)
	}
	if _, err := b.ReblindPeer(uB); !errors.Is(err, ErrZeroized) {
		t.Errorf("B after zero: %v", err)
	}
	zero := edwards25519.NewScalar()
	if a.k.s.Equal(zero) != 1 || a.k2.s.Equal(zero) != 1 || a.perm != nil || a.eB != nil ||
		b.k.s.Equal(zero) != 1 || b.k2.s.Equal(zero) != 1 || b.perm != nil {
		t.Error("zero left a key, a permutation or a list behind")
	}
}

// TestKindTags checks that the hash domains of kinds, padding and tokens
// differ from each other and from the single-key domain of the session.
func TestKindTags(t *testing.T) {
	dst := DomainTag("fed", []byte{1})
	tags := [][]byte{dst, KindTag(dst, "email"), KindTag(dst, "phone"), KindTag(dst, "e"),
		suffixTag(dst, padTagSuffix), suffixTag(dst, tokenTagSuffix), KindTag(DomainTag("fed", []byte{2}), "email")}
	v := []byte("same-bytes")
	seen := map[string]int{}
	for i, tag := range tags {
		h := string(HashToGroup(v, tag))
		if j, ok := seen[h]; ok {
			t.Errorf("tags %d and %d hash alike", j, i)
		}
		seen[h] = i
	}
}
