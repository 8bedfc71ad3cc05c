package match

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// testPoints returns n distinct valid encodings.
func testPoints(n int) [][]byte {
	dst := DomainTag("points-test", nil)
	out := make([][]byte, n)
	for i := range out {
		out[i] = HashToGroup(binary.AppendUvarint(nil, uint64(i)), dst)
	}
	return out
}

func TestValidatePoints(t *testing.T) {
	pts := testPoints(5)
	identity := make([]byte, PointSize)
	nonCanonical := mustHex(t, rfc9496Invalid[3].hex)
	for _, tc := range []struct {
		name      string
		raw       []byte
		announced int
		want      error
	}{
		{"ok", Pack(pts), 5, nil},
		{"empty", nil, 0, nil},
		{"non-canonical", Pack(slices.Concat(pts[:2], [][]byte{nonCanonical})), 3, ErrNonCanonical},
		{"negative", Pack([][]byte{mustHex(t, rfc9496Invalid[4].hex)}), 1, ErrNonCanonical},
		{"identity", Pack([][]byte{pts[0], identity}), 2, ErrIdentity},
		{"duplicate", Pack([][]byte{pts[0], pts[1], pts[0]}), 3, ErrDuplicatePoint},
		{"fewer than announced", Pack(pts), 6, ErrLength},
		{"more than announced", Pack(pts), 4, ErrLength},
		{"partial point", Pack(pts)[:5*PointSize-1], 5, ErrLength},
		{"negative announcement", nil, -1, ErrLength},
		{"huge announcement", nil, MaxPoints + 1, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidatePoints(tc.raw, tc.announced)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(Pack(got), tc.raw) {
				t.Fatal("Pack(ValidatePoints(raw)) != raw")
			}
		})
	}
}

func TestReceiverAcrossChunks(t *testing.T) {
	pts := testPoints(10)
	r, err := NewReceiver(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(Pack(pts[:4])); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Points(); !errors.Is(err, ErrLength) {
		t.Fatalf("incomplete list: %v", err)
	}
	// A repeat of an earlier chunk's point is caught, and its index is the
	// position in the whole list.
	err = r.Add(Pack([][]byte{pts[4], pts[1]}))
	var pe *PointError
	if !errors.Is(err, ErrDuplicatePoint) || !errors.As(err, &pe) || pe.Index != 5 {
		t.Fatalf("cross-chunk duplicate: %v", err)
	}
	// The rejected chunk left no trace: the same points are accepted later.
	if err := r.Add(Pack(pts[4:])); err != nil {
		t.Fatal(err)
	}
	got, err := r.Points()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Pack(got), Pack(pts)) {
		t.Fatal("received list differs from the sent one")
	}
}

// TestStepReceiver checks that a step receiver enforces lengths and
// duplicates like NewReceiver but leaves point decoding to the protocol step.
func TestStepReceiver(t *testing.T) {
	pts := testPoints(6)
	nonCanonical := mustHex(t, rfc9496Invalid[3].hex)
	identity := make([]byte, PointSize)
	for _, tc := range []struct {
		name      string
		chunks    [][][]byte
		announced int
		want      error
	}{
		{"ok", [][][]byte{pts[:2], pts[2:]}, 6, nil},
		{"undecoded points pass", [][][]byte{{pts[0], nonCanonical}, {identity}}, 3, nil},
		{"duplicate across chunks", [][][]byte{pts[:3], {pts[3], pts[1]}}, 6, ErrDuplicatePoint},
		{"more than announced", [][][]byte{pts[:3], pts[3:]}, 5, ErrLength},
		{"fewer than announced", [][][]byte{pts}, 7, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewStepReceiver(tc.announced)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.chunks {
				if err = r.Add(Pack(c)); err != nil {
					break
				}
			}
			if err == nil {
				_, err = r.Points()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewStepReceiver(-1); !errors.Is(err, ErrLength) {
		t.Fatalf("negative announcement: %v", err)
	}
}

func TestChunks(t *testing.T) {
	pts := testPoints(10)
	for _, size := range []int{1, 3, 10, 11} {
		var joined [][]byte
		for _, c := range Chunks(pts, size) {
			if len(c) == 0 || len(c) > size {
				t.Fatalf("size %d: chunk of %d", size, len(c))
			}
			joined = append(joined, c...)
		}
		if !bytes.Equal(Pack(joined), Pack(pts)) {
			t.Fatalf("size %d: chunks do not rejoin to the list", size)
		}
	}
}

func TestExponentiateCommutes(t *testing.T) {
	pts := testPoints(40)
	k1, _ := NewKey()
	k2, _ := NewKey()
	a, err := k1.Exponentiate(pts)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := k2.Exponentiate(a)
	b, _ := k2.Exponentiate(pts)
	ba, _ := k1.Exponentiate(b)
	if !bytes.Equal(Pack(ab), Pack(ba)) {
		t.Fatal("(P^a)^b != (P^b)^a")
	}
	// Chunked calls give the same result as one call.
	var chunked [][]byte
	for _, c := range Chunks(pts, 9) {
		out, err := k1.Exponentiate(c)
		if err != nil {
			t.Fatal(err)
		}
		chunked = append(chunked, out...)
	}
	if !bytes.Equal(Pack(chunked), Pack(a)) {
		t.Fatal("chunked exponentiation differs")
	}
	if _, err := k1.Exponentiate([][]byte{pts[0], make([]byte, PointSize)}); !errors.Is(err, ErrIdentity) {
		t.Fatalf("identity: %v", err)
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	for _, l := range []Layout{
		{UnionSize: 0, Rows: []int{}},
		{UnionSize: 5, Rows: []int{4, 0, 2}},
		{UnionSize: 300, Rows: []int{299, 128, 1}},
	} {
		raw, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Layout
		if err := got.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		if got.UnionSize != l.UnionSize || !slices.Equal(got.Rows, l.Rows) {
			t.Fatalf("round trip %v -> %v", l, got)
		}
	}
	for name, l := range map[string]Layout{
		"row out of range": {UnionSize: 2, Rows: []int{2}},
		"repeated row":     {UnionSize: 3, Rows: []int{1, 1}},
		"too many rows":    {UnionSize: 1, Rows: []int{0, 1}},
	} {
		if _, err := l.MarshalBinary(); !errors.Is(err, ErrLayoutFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	var l Layout
	for name, raw := range map[string][]byte{
		"empty":         nil,
		"wrong version": {9, 1, 0},
		"trailing":      {layoutVersion, 1, 1, 0, 0},
		"truncated":     {layoutVersion, 3, 2, 0},
	} {
		if err := l.UnmarshalBinary(raw); !errors.Is(err, ErrLayoutFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestLayoutHugeUnion: a layout of a few bytes may claim a union of
// nearly 2^31 rows. Decoding it used to allocate one bool per union row,
// gigabytes per call, which took down the fuzzer (the input is kept in
// testdata/fuzz/FuzzLayoutUnmarshal); its memory now follows its rows.
func TestLayoutHugeUnion(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"fuzzer's crasher", []byte("\x01\x85\x85\x85\x85\x05\x03\xa2y\xa2y\x91\x04"), false}, // a repeated row
		{"union 2^31", []byte{layoutVersion, 0x80, 0x80, 0x80, 0x80, 0x08, 2, 7, 3}, true},
		{"union 2^31, repeated row", []byte{layoutVersion, 0x80, 0x80, 0x80, 0x80, 0x08, 2, 7, 7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var l Layout
			err := l.UnmarshalBinary(tc.raw)
			runtime.ReadMemStats(&after)
			if (err == nil) != tc.ok {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if tc.ok && l.UnionSize < 1<<30 {
				t.Fatalf("union %d", l.UnionSize)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("decoding %d bytes allocated %d bytes", len(tc.raw), got)
			}
		})
	}
}

func TestLayoutBlock(t *testing.T) {
	l := Layout{UnionSize: 20000, Rows: []int{8191, 8192, 19999}}
	for j, want := range [][2]int{{0, 8191}, {1, 0}, {2, 3615}} {
		if b, c := l.Block(j, 8192); b != want[0] || c != want[1] {
			t.Errorf("record %d: block %d coeff %d, want %v", j, b, c, want)
		}
	}
}

// TestPermutationUniform draws permutations of 3 from a keyed stream and
// checks that the six orders are about equally frequent.
func TestPermutationUniform(t *testing.T) {
	src := rand.NewChaCha8([32]byte{'j', 'o', 'i', 'n', 't', 'l', 'y'})
	const draws = 60000
	counts := map[[3]int]int{}
	for range draws {
		p, err := permutationFrom(src, 3)
		if err != nil {
			t.Fatal(err)
		}
		counts[[3]int(p)]++
	}
	if len(counts) != 6 {
		t.Fatalf("%d distinct permutations of 3", len(counts))
	}
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - draws/6.0
		chi2 += d * d / (draws / 6.0)
	}
	// 5 degrees of freedom: P(χ² > 25.7) < 1e-4.
	if chi2 > 25.7 {
		t.Fatalf("χ² = %.1f: permutations are not uniform", chi2)
	}
}

// constReader returns the same 8-byte little-endian word forever.
type constReader uint64

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(uint64(c) >> (8 * (i % 8)))
	}
	return len(p), nil
}

// TestBelowRejectsBiasedDraws checks the rejection bound: for bound 3,
// 2^64 mod 3 = 1, so the single draw 2^64−1 must be refused.
func TestBelowRejectsBiasedDraws(t *testing.T) {
	s := &uniformSource{r: constReader(1<<64 - 2)}
	if v, err := s.below(3); err != nil || v != (1<<64-2)%3 {
		t.Fatalf("below(3) on 2^64-2 = %d, %v", v, err)
	}
	// 2^64-1 is rejected forever; a limited reader ends the loop.
	s = &uniformSource{r: &limitedReader{r: constReader(1<<64 - 1), n: 4096 * 2}}
	if _, err := s.below(3); err == nil {
		t.Fatal("below(3) accepted 2^64-1")
	}
}

type limitedReader struct {
	r constReader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("exhausted")
	}
	l.n -= len(p)
	return l.r.Read(p)
}

func FuzzValidatePoints(f *testing.F) {
	pts := testPoints(3)
	f.Add(Pack(pts), 3)
	f.Add(Pack(pts[:1]), 1)
	f.Add(make([]byte, PointSize), 1)
	f.Add(mustHex(f, rfc9496Invalid[0].hex), 1)
	f.Add(Pack([][]byte{pts[0], pts[0]}), 2)
	f.Fuzz(func(t *testing.T, raw []byte, announced int) {
		got, err := ValidatePoints(raw, announced)
		if err != nil {
			return
		}
		if len(got) != announced || !bytes.Equal(Pack(got), raw) {
			t.Fatal("accepted list does not match its wire form")
		}
		seen := map[string]bool{}
		for _, p := range got {
			if err := DecodePoint(p); err != nil || seen[string(p)] {
				t.Fatal("accepted an invalid or repeated point")
			}
			seen[string(p)] = true
			// Canonical: the accepted bytes are what encoding produces.
			k, _ := NewKey()
			k.s.SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
			one, err := k.Exponentiate([][]byte{p})
			if err != nil || !bytes.Equal(one[0], p) {
				t.Fatal("accepted point does not re-encode to itself")
			}
		}
	})
}

// FuzzStepReceiver checks that a step receiver plus the exponentiation a
// step applies accept exactly the lists a full Receiver accepts, whatever
// the frame boundary: deferring the decoding to the step loses no check.
func FuzzStepReceiver(f *testing.F) {
	pts := testPoints(3)
	f.Add(Pack(pts), 3, 1)
	f.Add(Pack([][]byte{pts[0], make([]byte, PointSize)}), 2, 1)
	f.Add(Pack([][]byte{pts[1], mustHex(f, rfc9496Invalid[0].hex)}), 2, 0)
	f.Add(Pack([][]byte{pts[0], pts[2], pts[0]}), 3, 2)
	k, err := NewKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, announced, split int) {
		full, fullErr := ValidatePoints(raw, announced)
		r, err := NewStepReceiver(announced)
		if err == nil {
			cut := 0
			if n := len(raw) / PointSize; n > 0 {
				cut = (split % (n + 1)) * PointSize
				if cut < 0 {
					cut = -cut
				}
			}
			if err = r.Add(raw[:cut]); err == nil {
				err = r.Add(raw[cut:])
			}
		}
		var got [][]byte
		if err == nil {
			got, err = r.Points()
		}
		if err == nil {
			if !bytes.Equal(Pack(got), raw) {
				t.Fatal("step receiver list does not match its wire form")
			}
			_, err = k.Exponentiate(got)
		}
		if (err == nil) != (fullErr == nil) {
			t.Fatalf("step receiver and exponentiation: %v; full receiver: %v", err, fullErr)
		}
		if fullErr == nil && !bytes.Equal(Pack(full), Pack(got)) {
			t.Fatal("the two receivers returned different lists")
		}
	})
}

func FuzzLayoutUnmarshal(f *testing.F) {
	good, _ := (&Layout{UnionSize: 5, Rows: []int{4, 0, 2}}).MarshalBinary()
	f.Add(good)
	f.Add([]byte{layoutVersion, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var l Layout
		if err := l.UnmarshalBinary(raw); err != nil {
			return
		}
		again, err := l.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded layout does not encode: %v", err)
		}
		var l2 Layout
		if err := l2.UnmarshalBinary(again); err != nil || l2.UnionSize != l.UnionSize || !slices.Equal(l2.Rows, l.Rows) {
			t.Fatal("layout does not round trip")
		}
	})
}

func TestCostPerRecord(t *testing.T) {
	c, err := CostPerRecord(3)
	if err != nil {
		t.Fatal(err)
	}
	if c <= 0 {
		t.Fatalf("cost %v", c)
	}
}

func TestReceiverCopiesFrames(t *testing.T) {
	pts := testPoints(2)
	frame := Pack(pts)
	got, err := ValidatePoints(frame, 2)
	if err != nil {
		t.Fatal(err)
	}
	clear(frame)
	if !bytes.Equal(Pack(got), Pack(pts)) {
		t.Fatal("received points alias the frame buffer")
	}
}

func TestCostPerRecordMultiKey(t *testing.T) {
	c, err := CostPerRecordMultiKey(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c <= 0 {
		t.Fatalf("cost %v", c)
	}
}
