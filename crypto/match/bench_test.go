package match

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/jointly-dev/jointly/crypto/internal/cputime"
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
	uA, uB := blindBoth(b, a, p, x, y)
	lap(0)
	shA, vA, vB := reblindBoth(b, a, p, uA, uB)
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

// BenchmarkMatchMultiKey runs the multi-key protocol with two key kinds
// (e-mail, phone) between both parties in process, n records per side,
// half of them paired (a third on both keys, a third on the e-mail alone,
// a third on the phone alone), and, in the same iteration, the single-key
// protocol on n records per side at 50 % overlap.
//
//	go test ./crypto/match -run '^$' -bench MatchMultiKey -benchtime 3x
//
// Metrics: ms/record, the wall time per input record of one party;
// x-floor, the wall time over 2·n·c_K/GOMAXPROCS with c_K of
// CostPerRecordMultiKey (2 hash-to-group, 7 scalar multiplications and one
// encoding per record), measured right before and right after each run and
// averaged; x-single, the multi-key wall time over the single-key one;
// B/record, the bytes both parties send per input record; c-µs, c_K. On a
// machine shared with other jobs the wall time also counts waiting for a
// core, so CPU times are reported too: cpu-x-floor, the run's process CPU
// time over 2·n·c_K with c_K as the CPU time of its loop (c-cpu-µs);
// cpu-x-single, over the single-key run's CPU time; cores, the run's CPU
// time over its wall time (2 on an idle 2-core machine).
func BenchmarkMatchMultiKey(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			const kinds = 2
			x, y := benchMultiKeyData(n)
			xs, ys := dataset(7, n, n, n/2, "")
			dst := DomainTag("bench", []byte("session"))
			// c_K in wall time and in CPU time: on a busy machine the
			// measuring loop waits for its core too, and only its CPU time is
			// comparable with the run's.
			const costRecords = 1000
			var cCPU time.Duration
			cost := func() time.Duration {
				cpu0 := cputime.Process()
				c, err := CostPerRecordMultiKey(kinds, costRecords)
				if err != nil {
					b.Fatal(err)
				}
				cCPU += (cputime.Process() - cpu0) / costRecords
				return c
			}
			var wall, cpu, single, singleCPU, c time.Duration
			var sent int
			var phases [4]time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before := cost()
				b.StartTimer()
				start, cpu0 := time.Now(), cputime.Process()
				sent += benchMultiKeyRun(b, dst, []string{"email", "phone"}, x, y)
				wall += time.Since(start)
				cpu += cputime.Process() - cpu0
				b.StopTimer()
				c += (before + cost()) / 2
				start, cpu0 = time.Now(), cputime.Process()
				benchRun(b, dst, xs, ys, &phases)
				single += time.Since(start)
				singleCPU += cputime.Process() - cpu0
				b.StartTimer()
			}
			b.StopTimer()
			c /= time.Duration(b.N)
			work := float64(2*n) * float64(c) // the floor's CPU time
			per := wall / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1e3/float64(n), "ms/record")
			b.ReportMetric(float64(per)/(work/float64(runtime.GOMAXPROCS(0))), "x-floor")
			b.ReportMetric(float64(wall)/float64(single), "x-single")
			b.ReportMetric(float64(sent)/float64(b.N)/float64(2*n), "B/record")
			b.ReportMetric(float64(c.Microseconds()), "c-µs")
			if cpu > 0 {
				cCPU /= time.Duration(2 * b.N)
				b.ReportMetric(float64(cpu)/float64(b.N)/(float64(2*n)*float64(cCPU)), "cpu-x-floor")
				b.ReportMetric(float64(cCPU.Microseconds()), "c-cpu-µs")
				b.ReportMetric(float64(cpu)/float64(singleCPU), "cpu-x-single")
				b.ReportMetric(float64(cpu)/float64(wall), "cores")
			}
		})
	}
}

// benchMultiKeyData returns n records per side with e-mail and phone, half
// of them the same people: a third of those agree on both keys, a third on
// the e-mail only (the phone is missing on one side or differs), a third on
// the phone only (the e-mail is missing on one side).
func benchMultiKeyData(n int) (x, y [][][]byte) {
	rec := func(e, p string) [][]byte { return [][]byte{[]byte(e), []byte(p)} }
	for i := range n {
		e, p := fmt.Sprintf("customer%08d@example.org", i), fmt.Sprintf("+4100%08d", i)
		x = append(x, rec(e, p))
		if i >= n/2 {
			continue
		}
		switch i % 3 {
		case 0:
			y = append(y, rec(e, p))
		case 1:
			y = append(y, rec(e, fmt.Sprintf("+4199%08d", i)))
		default:
			y = append(y, rec("", p))
		}
	}
	for i := n / 2; len(y) < n; i++ {
		y = append(y, rec(fmt.Sprintf("other%08d@example.org", i), fmt.Sprintf("+4177%08d", i)))
	}
	return x, y
}

// benchMultiKeyRun runs one multi-key session and returns the bytes both
// parties sent.
func benchMultiKeyRun(b *testing.B, dst []byte, kinds []string, x, y [][][]byte) int {
	a, p := newMultiKeyParties(b, dst, kinds)
	defer a.Zero()
	defer p.Zero()
	points := 0
	uA, uB := blindBoth(b, a, p, x, y)
	shA, err := p.ReblindPeer(uA)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.ReblindPeer(uB); err != nil {
		b.Fatal(err)
	}
	tok, err := a.Match(shA)
	if err != nil {
		b.Fatal(err)
	}
	zA, onlyB2, err := p.ReblindTokens(tok.A, tok.B, tok.OnlyB, tok.OnlyA)
	if err != nil {
		b.Fatal(err)
	}
	la, err := a.Finish(zA, onlyB2)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Finish(); err != nil {
		b.Fatal(err)
	}
	if la.UnionSize != len(x)+len(y)-len(x)/2 {
		b.Fatalf("union %d", la.UnionSize)
	}
	for _, l := range [][][]byte{uA, uB, shA, tok.A, tok.B, tok.OnlyB, tok.OnlyA, zA, onlyB2} {
		points += len(l)
	}
	return points * PointSize
}
