package match

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

func BenchmarkHashToGroup(b *testing.B) {
	dst := DomainTag("bench", []byte("session"))
	var p edwards25519.Point
	id := []byte("someone.with.a.long.address@example.com")
	for b.Loop() {
		hashToGroup(&p, id, dst)
	}
}

func BenchmarkScalarMult(b *testing.B) {
	k, _ := NewKey()
	p := edwards25519.NewGeneratorPoint()
	for b.Loop() {
		p.ScalarMult(&k.s, p)
	}
}

func BenchmarkEncode(b *testing.B) {
	p := edwards25519.NewGeneratorPoint()
	var out [PointSize]byte
	for b.Loop() {
		encodePoint(out[:], p)
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := testPoints(1)[0]
	var p edwards25519.Point
	for b.Loop() {
		if err := decodeNonIdentity(&p, enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCostPerRecord reports c of CostPerRecord as ns/op, one record per
// op, on one core.
func BenchmarkCostPerRecord(b *testing.B) {
	k, _ := NewKey()
	dst := DomainTag("bench", nil)
	var (
		p   edwards25519.Point
		id  [8]byte
		out [PointSize]byte
	)
	i := uint64(0)
	for b.Loop() {
		binary.LittleEndian.PutUint64(id[:], i)
		i++
		hashToGroup(&p, id[:], dst)
		for range 5 {
			p.ScalarMult(&k.s, &p)
		}
		encodePoint(out[:], &p)
	}
}

// BenchmarkProtocol runs both parties in process over all cores at 50 %
// overlap and reports wall time per input record of one party, in total and
// per phase (both parties' steps 1, 2, 3–4 and the output step).
func BenchmarkProtocol(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			x, y := dataset(7, n, n, n/2, "")
			dst := DomainTag("bench", []byte("session"))
			var phases [4]time.Duration
			for b.Loop() {
				benchRun(b, dst, x, y, &phases)
			}
			perRecord := func(d time.Duration) float64 {
				return float64(d.Microseconds()) / 1000 / float64(b.N) / float64(n)
			}
			b.ReportMetric(perRecord(b.Elapsed()), "ms/record")
			for i, name := range []string{"blind", "reblind", "differences", "finish"} {
				b.ReportMetric(perRecord(phases[i]), name+"-ms/record")
			}
		})
	}
}

func benchRun(b *testing.B, dst []byte, x, y [][]byte, phases *[4]time.Duration) {
	start := time.Now()
	lap := func(i int) {
		now := time.Now()
		phases[i] += now.Sub(start)
		start = now
	}
	a, p := newParties(b, dst)
	defer a.Zero()
	defer p.Zero()
	uA, _ := a.Blind(x)
	uB, _ := p.Blind(y)
	lap(0)
	shA, vA, err := p.ReblindPeer(uA)
	if err != nil {
		b.Fatal(err)
	}
	vB, err := a.ReblindPeer(uB)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.AcceptDouble(vB); err != nil {
		b.Fatal(err)
	}
	lap(1)
	onlyB, onlyA, err := a.Differences(shA, vA)
	if err != nil {
		b.Fatal(err)
	}
	onlyB2, err := p.ReblindOnlyB(onlyB, onlyA)
	if err != nil {
		b.Fatal(err)
	}
	lap(2)
	if _, err := a.Finish(onlyB2); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Finish(); err != nil {
		b.Fatal(err)
	}
	lap(3)
}
