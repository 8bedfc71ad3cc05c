package upload

import (
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// nttTable computes Lattigo's forward negacyclic NTT (same bit-reversed
// roots, same output order, so results mix freely with Lattigo's NTT-domain
// keys) with Harvey's butterflies: one precomputed Shoup quotient per root
// instead of a Montgomery reduction, which makes the evaluator's seven
// transforms per block markedly cheaper. TestNTTMatchesLattigo pins the
// equality.
type nttTable struct {
	q        uint64
	w, wq    []uint64 // roots (normal form) and floor(root·2^64/q)
	mont, mq uint64   // 2^64 mod q and its Shoup quotient
}

func newNTTTable(s *ring.SubRing) nttTable {
	q := s.Modulus
	t := nttTable{q: q, w: make([]uint64, len(s.RootsForward)), wq: make([]uint64, len(s.RootsForward))}
	for i, r := range s.RootsForward {
		t.w[i] = ring.IMForm(r, q, s.MRedConstant)
		t.wq[i], _ = bits.Div64(t.w[i], 0, q)
	}
	_, t.mont = bits.Div64(1%q, 0, q)
	t.mq, _ = bits.Div64(t.mont, 0, q)
	return t
}

// forwardLazy transforms p (coefficients below q) in place; the outputs are
// below 4q, which Lattigo's Montgomery products accept for q < 2^62.
func (t *nttTable) forwardLazy(p []uint64) {
	q, twoQ := t.q, 2*t.q
	n := len(p)
	m, h := 1, n/2
	// Two stages per pass over the data (radix 2²): the polynomial does not
	// fit in L1, so halving the passes matters as much as the arithmetic.
	for ; h >= 16; m, h = m<<2, h>>2 {
		g := h / 2
		for i := 0; i < m; i++ {
			w1, wq1 := t.w[m+i], t.wq[m+i]
			w2, wq2 := t.w[2*(m+i)], t.wq[2*(m+i)]
			w3, wq3 := t.w[2*(m+i)+1], t.wq[2*(m+i)+1]
			j := 2 * i * h
			a := p[j : j+g]
			b := p[j+g : j+2*g]
			c := p[j+2*g : j+3*g]
			d := p[j+3*g : j+4*g]
			b, c, d = b[:len(a)], c[:len(a)], d[:len(a)]
			for k := range a {
				x0, x2 := harvey(a[k], c[k], w1, wq1, q, twoQ)
				x1, x3 := harvey(b[k], d[k], w1, wq1, q, twoQ)
				a[k], b[k] = harvey(x0, x1, w2, wq2, q, twoQ)
				c[k], d[k] = harvey(x2, x3, w3, wq3, q, twoQ)
			}
		}
	}
	// At most one single stage with blocks of 8 or more.
	for ; h >= 8; m, h = m<<1, h>>1 {
		for i := 0; i < m; i++ {
			w, wq := t.w[m+i], t.wq[m+i]
			j := 2 * i * h
			x := p[j : j+h]
			y := p[j+h : j+2*h]
			y = y[:len(x)]
			for k := range x {
				x[k], y[k] = harvey(x[k], y[k], w, wq, q, twoQ)
			}
		}
	}
	// Last stages (h = 4, 2, 1): blocks too short for an inner loop.
	for ; m < n; m, h = m<<1, h>>1 {
		w := t.w[m : 2*m]
		wq := t.wq[m : 2*m]
		switch h {
		case 4:
			for i := range w {
				b := p[8*i : 8*i+8]
				b[0], b[4] = harvey(b[0], b[4], w[i], wq[i], q, twoQ)
				b[1], b[5] = harvey(b[1], b[5], w[i], wq[i], q, twoQ)
				b[2], b[6] = harvey(b[2], b[6], w[i], wq[i], q, twoQ)
				b[3], b[7] = harvey(b[3], b[7], w[i], wq[i], q, twoQ)
			}
		case 2:
			for i := range w {
				b := p[4*i : 4*i+4]
				b[0], b[2] = harvey(b[0], b[2], w[i], wq[i], q, twoQ)
				b[1], b[3] = harvey(b[1], b[3], w[i], wq[i], q, twoQ)
			}
		default:
			for i := range w {
				b := p[2*i : 2*i+2]
				b[0], b[1] = harvey(b[0], b[1], w[i], wq[i], q, twoQ)
			}
		}
	}
}

// harvey is one lazy butterfly: inputs and outputs below 4q.
func harvey(u, y, w, wq, q, twoQ uint64) (uint64, uint64) {
	if u >= twoQ {
		u -= twoQ
	}
	hi, _ := bits.Mul64(wq, y)
	v := w*y - hi*q // y·w mod q, in [0, 2q)
	return u + v, u + twoQ - v
}

// forwardMont transforms p in place and returns it reduced and in
// Montgomery form (each value times 2^64 mod q), as the multiplier operand
// of Lattigo's Montgomery products, fusing the Montgomery conversion into
// the final reduction.
func (t *nttTable) forwardMont(p []uint64) {
	t.forwardLazy(p)
	q := t.q
	for i, x := range p {
		hi, _ := bits.Mul64(t.mq, x)
		v := t.mont*x - hi*q
		if v >= q {
			v -= q
		}
		p[i] = v
	}
}
