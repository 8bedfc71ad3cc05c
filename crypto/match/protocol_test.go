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

// wireChunk is small so that every message of the tests crosses the wire in
// several chunks.
const wireChunk = 7

// transcript records every message as it went over the wire (packed bytes).
type transcript map[Message][]byte

// send packs a list in chunks, receives it through a Receiver with the
// announced length and records the wire bytes: the path the gRPC layer
// takes.
func (tr transcript) send(t *testing.T, name Message, pts [][]byte) [][]byte {
	t.Helper()
	r, err := NewReceiver(len(pts))
	if err != nil {
		t.Fatal(err)
	}
	var wire []byte
	for _, c := range Chunks(pts, wireChunk) {
		raw := Pack(c)
		wire = append(wire, raw...)
		if err := r.Add(raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	got, err := r.Points()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tr[name] = wire
	return got
}

// newParties draws the keys of both roles of one session under dst. The
// caller zeroes them when it wants to.
func newParties(tb testing.TB, dst []byte) (*PartyA, *PartyB) {
	tb.Helper()
	a, err := NewPartyA(dst)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := NewPartyB(dst)
	if err != nil {
		tb.Fatal(err)
	}
	return a, b
}

// blinder is either role of either protocol at step 1.
type blinder[R any] interface {
	Blind(R) ([][]byte, error)
}

// blindBoth is step 1 of both roles: A blinds x and B blinds y.
func blindBoth[R any](tb testing.TB, a, b blinder[R], x, y R) (uA, uB [][]byte) {
	tb.Helper()
	uA, err := a.Blind(x)
	if err != nil {
		tb.Fatal(err)
	}
	uB, err = b.Blind(y)
	if err != nil {
		tb.Fatal(err)
	}
	return uA, uB
}

// reblindBoth is step 2 of both roles of the single-key protocol: B
// reblinds U_A into σ_B(E_A) and V_A, A reblinds U_B into V_B.
func reblindBoth(tb testing.TB, a *PartyA, b *PartyB, uA, uB [][]byte) (shA, vA, vB [][]byte) {
	tb.Helper()
	shA, vA, err := b.ReblindPeer(uA)
	if err != nil {
		tb.Fatal(err)
	}
	vB, err = a.ReblindPeer(uB)
	if err != nil {
		tb.Fatal(err)
	}
	return shA, vA, vB
}

// reshuffled has B reblind U_A and returns σ_B(E_A), what B sends, and
// E_A = U_A^b in U_A's order, what a B that skipped its shuffle would send.
func reshuffled(t *testing.T, b *PartyB, uA [][]byte) (shuffled, unshuffled [][]byte) {
	t.Helper()
	shuffled, _, err := b.ReblindPeer(uA)
	if err != nil {
		t.Fatal(err)
	}
	unshuffled, err = b.k.Exponentiate(uA)
	if err != nil {
		t.Fatal(err)
	}
	return shuffled, unshuffled
}

// rejectsPoint calls step with list[i] replaced by bad and expects the
// sentinel want and a PointError naming index i. list itself is left as it
// was, so that the step can be retried with the honest list (a failed step
// changes no state).
func rejectsPoint(t *testing.T, want error, msg Message, list [][]byte, i int, bad []byte, step func([][]byte) error) {
	t.Helper()
	c := slices.Clone(list)
	c[i] = bad
	err := step(c)
	var pe *PointError
	if !errors.Is(err, want) || !errors.As(err, &pe) || pe.Index != i {
		t.Fatalf("%s with a bad point %d: %v", msg, i, err)
	}
}

// runProtocol drives both parties through the protocol of README.md in process.
func runProtocol(t *testing.T, dst []byte, x, y [][]byte) (*Layout, *Layout, transcript) {
	t.Helper()
	tr := transcript{}
	a, b := newParties(t, dst)
	defer a.Zero()
	defer b.Zero()
	var workA, workB atomic.Int64
	a.CountWork(&workA)
	b.CountWork(&workB)
	defer func() {
		// Both count every scalar multiplication of the session: Work.
		if !t.Failed() {
			u := unionOf(x, y)
			if want := Work(len(x), len(y), u); workA.Load() != want || workB.Load() != want {
				t.Errorf("work counted: A %d, B %d; Work(%d, %d, %d) = %d", workA.Load(), workB.Load(), len(x), len(y), u, want)
			}
		}
	}()

	uA, uB := blindBoth(t, a, b, x, y)
	shA, vA, err := b.ReblindPeer(tr.send(t, MsgBlindedA, uA))
	if err != nil {
		t.Fatal(err)
	}
	vB, err := a.ReblindPeer(tr.send(t, MsgBlindedB, uB))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AcceptDouble(tr.send(t, MsgDoubleB, vB)); err != nil {
		t.Fatal(err)
	}
	onlyB, onlyA, err := a.Differences(tr.send(t, MsgShuffledA, shA), tr.send(t, MsgDoubleA, vA))
	if err != nil {
		t.Fatal(err)
	}
	onlyB2, err := b.ReblindOnlyB(tr.send(t, MsgOnlyB, onlyB), tr.send(t, MsgOnlyA, onlyA))
	if err != nil {
		t.Fatal(err)
	}
	la, err := a.Finish(tr.send(t, MsgOnlyBDouble, onlyB2))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return la, lb, tr
}

// unionOf is |x ∪ y|.
func unionOf(x, y [][]byte) int {
	seen := map[string]bool{}
	for _, id := range append(slices.Clone(x), y...) {
		seen[string(id)] = true
	}
	return len(seen)
}

// dataset returns X and Y with |X| = nx, |Y| = ny and |X ∩ Y| = common, each
// in a random order; the identifiers are e-mail addresses so that leakage
// tests can look for them verbatim. salt makes runs with equal sizes differ
// in which identifiers they share.
func dataset(seed uint64, nx, ny, common int, salt string) (x, y [][]byte) {
	rng := rand.New(rand.NewPCG(seed, 0x6d61746368))
	id := func(tag string, i int) []byte { return fmt.Appendf(nil, "%s%s-%d@example.com", tag, salt, i) }
	for i := range common {
		x = append(x, id("both", i))
		y = append(y, id("both", i))
	}
	for i := range nx - common {
		x = append(x, id("a", i))
	}
	for i := range ny - common {
		y = append(y, id("b", i))
	}
	rng.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
	rng.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
	return x, y
}

func TestProtocolOracle(t *testing.T) {
	dst := DomainTag("test-federation", []byte("session-1"))
	for _, tc := range []struct{ nx, ny, common int }{
		{200, 200, 0},
		{200, 200, 100},
		{200, 200, 200},
		{120, 200, 60},
		{200, 50, 50},
		{1, 1, 1},
		{1, 1, 0},
	} {
		t.Run(fmt.Sprintf("nx=%d/ny=%d/common=%d", tc.nx, tc.ny, tc.common), func(t *testing.T) {
			x, y := dataset(uint64(tc.nx*1000+tc.common), tc.nx, tc.ny, tc.common, "")
			la, lb, _ := runProtocol(t, dst, x, y)

			// The oracle sees both inputs.
			union := map[string]bool{}
			for _, v := range x {
				union[string(v)] = true
			}
			for _, v := range y {
				union[string(v)] = true
			}
			if la.UnionSize != len(union) || lb.UnionSize != len(union) {
				t.Fatalf("union sizes A=%d B=%d, want %d", la.UnionSize, lb.UnionSize, len(union))
			}
			for name, l := range map[string]*Layout{"A": la, "B": lb} {
				if err := l.validate(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			if len(la.Rows) != len(x) || len(lb.Rows) != len(y) {
				t.Fatalf("row counts %d, %d for %d, %d records", len(la.Rows), len(lb.Rows), len(x), len(y))
			}
			posY := map[string]int{}
			for j, v := range y {
				posY[string(v)] = j
			}
			// Every union row is taken by at least one party, and it is shared
			// exactly when the two records carry the same identifier.
			owner := make([]int, la.UnionSize)
			for i, v := range x {
				owner[la.Rows[i]]++
				if j, ok := posY[string(v)]; ok && lb.Rows[j] != la.Rows[i] {
					t.Fatalf("common identifier on row %d at A and %d at B", la.Rows[i], lb.Rows[j])
				}
			}
			shared := 0
			for _, r := range lb.Rows {
				owner[r]++
				if owner[r] == 2 {
					shared++
				}
			}
			if shared != tc.common {
				t.Fatalf("%d rows shared, want %d", shared, tc.common)
			}
			if i := slices.Index(owner, 0); i >= 0 {
				t.Fatalf("union row %d belongs to no one", i)
			}
		})
	}
}

// TestProtocolMessageShapes checks that message lengths are fixed by |X|,
// |Y| and |X ∩ Y| alone, and what they are.
func TestProtocolMessageShapes(t *testing.T) {
	dst := DomainTag("test-federation", []byte("session-2"))
	const nx, ny, common = 150, 110, 40
	x1, y1 := dataset(1, nx, ny, common, "r1")
	x2, y2 := dataset(2, nx, ny, common, "r2")
	_, _, tr1 := runProtocol(t, dst, x1, y1)
	_, _, tr2 := runProtocol(t, dst, x2, y2)
	want := map[Message]int{
		MsgBlindedA:    nx,
		MsgBlindedB:    ny,
		MsgShuffledA:   nx,
		MsgDoubleA:     nx,
		MsgDoubleB:     ny,
		MsgOnlyB:       ny - common,
		MsgOnlyA:       nx - common,
		MsgOnlyBDouble: ny - common,
	}
	if len(tr1) != len(want) {
		t.Fatalf("%d messages, want %d", len(tr1), len(want))
	}
	for name, n := range want {
		if len(tr1[name]) != n*PointSize || len(tr2[name]) != n*PointSize {
			t.Errorf("%s: %d and %d bytes, want %d", name, len(tr1[name]), len(tr2[name]), n*PointSize)
		}
	}
}

// TestProtocolLeakage checks the wire for what must never be on it: the
// identifiers and their unblinded hashes H(x).
func TestProtocolLeakage(t *testing.T) {
	dst := DomainTag("test-federation", []byte("session-3"))
	x, y := dataset(3, 100, 100, 50, "")
	_, _, tr := runProtocol(t, dst, x, y)
	for name, wire := range tr {
		for _, id := range slices.Concat(x, y) {
			if bytes.Contains(wire, id) {
				t.Fatalf("%s carries an identifier", name)
			}
			h := HashToGroup(id, dst)
			for i := 0; i+PointSize <= len(wire); i += PointSize {
				if bytes.Equal(wire[i:i+PointSize], h) {
					t.Fatalf("%s carries an unblinded hash", name)
				}
			}
		}
	}
}

// TestProtocolShuffles checks that the lists leave in an order unrelated to
// the records: U_A is not in record order and σ_B(E_A) is not in U_A order.
func TestProtocolShuffles(t *testing.T) {
	dst := DomainTag("test-federation", []byte("session-4"))
	x, _ := dataset(4, 200, 1, 0, "")
	a, b := newParties(t, dst)
	uA, err := a.Blind(x)
	if err != nil {
		t.Fatal(err)
	}
	shA, eA := reshuffled(t, b, uA)
	inOrder := a.k.hashAndExponentiate(x, func(int) []byte { return dst })
	// A uniform permutation of 200 has on average one fixed point; 10 or
	// more happen with probability below 1e-6.
	if fixed := fixedPoints(inOrder, uA); fixed >= 10 {
		t.Errorf("U_A keeps %d records in place: not shuffled", fixed)
	}
	if fixed := fixedPoints(eA, shA); fixed >= 10 {
		t.Errorf("σ_B(E_A) keeps %d points in place: not reshuffled", fixed)
	}
	if len(difference(eA, shA)) != 0 {
		t.Error("σ_B(E_A) is not a permutation of E_A")
	}
}

func fixedPoints(a, b [][]byte) int {
	n := 0
	for i := range a {
		if bytes.Equal(a[i], b[i]) {
			n++
		}
	}
	return n
}

func TestDomainSeparation(t *testing.T) {
	id := []byte("someone@example.com")
	base := HashToGroup(id, DomainTag("fed", []byte{1}))
	for name, dst := range map[string][]byte{
		"other session":    DomainTag("fed", []byte{2}),
		"other federation": DomainTag("fed2", []byte{1}),
		"shifted boundary": DomainTag("fed|0", []byte{1}),
	} {
		if bytes.Equal(HashToGroup(id, dst), base) {
			t.Errorf("%s: same hash", name)
		}
	}
	if !bytes.Equal(HashToGroup(id, DomainTag("fed", []byte{1})), base) {
		t.Error("hash is not deterministic")
	}
}

func TestBlindRejectsInput(t *testing.T) {
	dst := DomainTag("f", nil)
	secret := "secret.person@example.com"
	for _, tc := range []struct {
		name string
		ids  [][]byte
		want error
	}{
		{"empty", nil, ErrEmpty},
		{"duplicate", [][]byte{[]byte(secret), []byte("x@y.z"), []byte(secret)}, ErrDuplicateIdentifier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewPartyA(dst)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Blind(tc.ids)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error text carries an identifier")
			}
		})
	}
}

func TestStepOrder(t *testing.T) {
	dst := DomainTag("f", nil)
	x, y := dataset(5, 10, 10, 5, "")
	a, b := newParties(t, dst)
	if _, _, err := a.Differences(nil, nil); !errors.Is(err, ErrStep) {
		t.Errorf("A differences first: %v", err)
	}
	if _, err := a.Finish(nil); !errors.Is(err, ErrStep) {
		t.Errorf("A finish first: %v", err)
	}
	if err := b.AcceptDouble(nil); !errors.Is(err, ErrStep) {
		t.Errorf("B accept double first: %v", err)
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
	if _, err := b.ReblindOnlyB(nil, nil); !errors.Is(err, ErrStep) {
		t.Errorf("B reblind only-B before reblind: %v", err)
	}
	a.Zero()
	if _, err := a.ReblindPeer(uB); !errors.Is(err, ErrZeroized) {
		t.Errorf("A after zero: %v", err)
	}
	zero := edwards25519.NewScalar()
	if a.k.s.Equal(zero) != 1 || a.k2.s.Equal(zero) != 1 || a.perm != nil {
		t.Error("zero left key or permutation behind")
	}
}

// TestPeerListsRejected feeds each step a list with the wrong length or a
// bad point and expects the matching sentinel error.
func TestPeerListsRejected(t *testing.T) {
	dst := DomainTag("f", nil)
	x, y := dataset(6, 20, 16, 8, "")
	a, b := newParties(t, dst)
	uA, uB := blindBoth(t, a, b, x, y)

	dup := slices.Clone(uB)
	dup[3] = dup[0]
	if _, err := a.ReblindPeer(dup); !errors.Is(err, ErrDuplicatePoint) {
		t.Errorf("duplicate in U_B: %v", err)
	}
	ident := slices.Clone(uA)
	ident[5] = make([]byte, PointSize)
	if _, _, err := b.ReblindPeer(ident); !errors.Is(err, ErrIdentity) {
		t.Errorf("identity in U_A: %v", err)
	}
	shA, vA, vB := reblindBoth(t, a, b, uA, uB)
	if err := b.AcceptDouble(vB[1:]); !errors.Is(err, ErrLength) {
		t.Errorf("short V_B: %v", err)
	}
	bad := slices.Clone(vA)
	bad[2] = mustHex(t, rfc9496Invalid[2].hex)
	if _, _, err := a.Differences(shA, bad); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("non-canonical in V_A: %v", err)
	}
	if _, _, err := a.Differences(shA[1:], vA); !errors.Is(err, ErrLength) {
		t.Errorf("short σ(E_A): %v", err)
	}
	onlyB, onlyA, err := a.Differences(shA, vA)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AcceptDouble(vB); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReblindOnlyB(onlyB[1:], onlyA); !errors.Is(err, ErrLength) {
		t.Errorf("inconsistent difference sizes: %v", err)
	}
	onlyB2, err := b.ReblindOnlyB(onlyB, onlyA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(append(slices.Clone(onlyB2), onlyB2[0])); !errors.Is(err, ErrLength) {
		t.Errorf("long OnlyBDouble: %v", err)
	}
	if _, err := a.Finish(onlyB2); err != nil {
		t.Fatal(err)
	}
}

// TestStepsValidateEveryList corrupts one point of each list a party
// receives and checks that the step consuming it rejects the list, naming
// the point's index, before returning any result; the transport's step
// receivers leave this decoding to the steps.
func TestStepsValidateEveryList(t *testing.T) {
	for _, bad := range []struct {
		name  string
		point []byte
		want  error
	}{
		{"non-canonical", mustHex(t, rfc9496Invalid[2].hex), ErrNonCanonical},
		{"identity", make([]byte, PointSize), ErrIdentity},
	} {
		t.Run(bad.name, func(t *testing.T) {
			dst := DomainTag("f", nil)
			x, y := dataset(8, 40, 36, 20, "")
			a, b := newParties(t, dst)
			defer a.Zero()
			defer b.Zero()
			check := func(msg Message, list [][]byte, i int, step func([][]byte) error) {
				t.Helper()
				rejectsPoint(t, bad.want, msg, list, i, bad.point, step)
			}
			uA, uB := blindBoth(t, a, b, x, y)
			check(MsgBlindedA, uA, 7, func(l [][]byte) error {
				shA, vA, err := b.ReblindPeer(l)
				if shA != nil || vA != nil {
					t.Error("B returned points for a bad U_A")
				}
				return err
			})
			shA, vA, err := b.ReblindPeer(uA)
			if err != nil {
				t.Fatal(err)
			}
			check(MsgBlindedB, uB, 35, func(l [][]byte) error {
				vB, err := a.ReblindPeer(l)
				if vB != nil {
					t.Error("A returned points for a bad U_B")
				}
				return err
			})
			vB, err := a.ReblindPeer(uB)
			if err != nil {
				t.Fatal(err)
			}
			check(MsgDoubleB, vB, 0, b.AcceptDouble)
			if err := b.AcceptDouble(vB); err != nil {
				t.Fatal(err)
			}
			differences := func(sh, v [][]byte) error {
				onlyB, onlyA, err := a.Differences(sh, v)
				if onlyB != nil || onlyA != nil {
					t.Error("A returned differences for a bad list")
				}
				return err
			}
			check(MsgShuffledA, shA, 11, func(l [][]byte) error { return differences(l, vA) })
			check(MsgDoubleA, vA, 39, func(l [][]byte) error { return differences(shA, l) })
			onlyB, onlyA, err := a.Differences(shA, vA)
			if err != nil {
				t.Fatal(err)
			}
			reblindOnly := func(ob, oa [][]byte) error {
				out, err := b.ReblindOnlyB(ob, oa)
				if out != nil {
					t.Error("B returned OnlyBDouble for a bad list")
				}
				return err
			}
			check(MsgOnlyB, onlyB, len(onlyB)-1, func(l [][]byte) error { return reblindOnly(l, onlyA) })
			check(MsgOnlyA, onlyA, 1, func(l [][]byte) error { return reblindOnly(onlyB, l) })
			onlyB2, err := b.ReblindOnlyB(onlyB, onlyA)
			if err != nil {
				t.Fatal(err)
			}
			check(MsgOnlyBDouble, onlyB2, 2, func(l [][]byte) error {
				_, err := a.Finish(l)
				return err
			})
			la, err := a.Finish(onlyB2)
			if err != nil {
				t.Fatal(err)
			}
			lb, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if la.UnionSize != 56 || lb.UnionSize != 56 {
				t.Fatalf("union %d and %d after rejected lists, want 56", la.UnionSize, lb.UnionSize)
			}
		})
	}
}

func TestMessageNames(t *testing.T) {
	names := map[string]bool{}
	fromA := 0
	for m := MsgBlindedA; m <= MsgOnlyBDouble; m++ {
		if names[m.String()] || m.String() == "Message(?)" {
			t.Fatalf("message %d has no unique name", m)
		}
		names[m.String()] = true
		if m.FromA() {
			fromA++
		}
	}
	if fromA != 4 || Message(0).String() != "Message(?)" {
		t.Fatalf("%d messages from A, want 4", fromA)
	}
}
