package upload

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// Packing. A full Trace costs log N key switches per product, and a query
// has hundreds of products. Lattigo's Pack (Chen, Dai, Kim, Song, ACNS
// 2021) merges n untraced products into one ciphertext with the same
// automorphisms, zeroing every other coefficient like the Trace does: with
// the products placed at a stride of N/n' (n' the next power of two) it
// costs about n' + log(N/n') key switches instead of n·log N, and the
// release then needs one key-switch share per pack instead of one per
// product. The noise is that of one Trace: a key-switch error entering at
// step i is doubled by each of the remaining steps, Σ_i 4^i as in
// noiseModel.traceStd, while the products' own noise in their constant
// coefficients passes through unchanged (NOISE.md section 3).

// Packed is one result ciphertext holding several products: product
// Products[k] in coefficient k·Stride, every other coefficient zero up to
// noise.
type Packed struct {
	Products []int
	Stride   int
	Ct       *rlwe.Ciphertext
}

// Coefficient returns the coefficient of the k-th product of the pack.
func (p *Packed) Coefficient(k int) int { return k * p.Stride }

// PackLayout groups products (plan indexes) into packs: products of one
// ciphertext level together, at most N per pack, in increasing order. Every
// party derives the same layout from the same product list.
func (p *Plan) PackLayout(products []int) ([][]int, error) {
	byLevel := map[int][]int{}
	var levels []int
	last := -1
	for _, i := range products {
		if i <= last || i >= len(p.products) {
			return nil, fmt.Errorf("%w: product %d out of range or order", ErrInvalidCircuit, i)
		}
		last = i
		l := p.cols[p.products[i].Column].Level
		if _, ok := byLevel[l]; !ok {
			levels = append(levels, l)
		}
		byLevel[l] = append(byLevel[l], i)
	}
	var out [][]int
	n := p.params.N()
	for _, l := range levels {
		g := byLevel[l]
		for len(g) > 0 {
			k := min(len(g), n)
			out = append(out, g[:k])
			g = g[k:]
		}
	}
	return out, nil
}

// PackStride is the coefficient stride of a pack of n products.
func (p *Plan) PackStride(n int) int {
	if n <= 1 {
		return p.params.N()
	}
	return p.params.N() >> bits.Len(uint(n-1))
}

// Pack traces products into packed ciphertexts (PackLayout), each
// re-randomized with a fresh encryption of zero. The sums are not changed:
// every call packs and re-randomizes afresh.
func (s *Sums) Pack(ctx context.Context, products []int) ([]*Packed, error) {
	layout, err := s.ev.plan.PackLayout(products)
	if err != nil {
		return nil, err
	}
	out := make([]*Packed, len(layout))
	params := s.ev.plan.params
	err = s.parallel(ctx, len(layout), func(g int, eval *rlwe.Evaluator, enc *rlwe.Encryptor) error {
		group := layout[g]
		pk := &Packed{Products: group, Stride: s.ev.plan.PackStride(len(group))}
		if len(group) == 1 { // Lattigo's Pack wants two or more
			ct, err := s.trace(group[0], eval)
			if err != nil {
				return fmt.Errorf("pack %d: %w", g, err)
			}
			pk.Ct = ct
		} else {
			in := make(map[int]*rlwe.Ciphertext, len(group))
			for k, i := range group {
				in[k*pk.Stride] = s.sums[i].CopyNew() // Pack scales its inputs in place
			}
			ct, err := eval.Pack(in, params.LogN(), true)
			if err != nil {
				return fmt.Errorf("pack %d: %w", g, err)
			}
			pk.Ct = ct
		}
		if err := crypto.Rerandomize(params, enc, pk.Ct); err != nil {
			return fmt.Errorf("pack %d: %w", g, err)
		}
		out[g] = pk
		return nil
	})
	return out, err
}

// DecodePacked returns the statistics, in Circuit.Stats order, from the
// querier's decrypted packs (pts[g] of packs[g]); products in no pack count
// as zero.
func (p *Plan) DecodePacked(packs []*Packed, pts []*rlwe.Plaintext) ([]float64, error) {
	if len(packs) != len(pts) {
		return nil, fmt.Errorf("%w: %d plaintexts for %d packs", ErrInvalidCircuit, len(pts), len(packs))
	}
	out := make([]float64, len(p.circuit.Stats))
	for g, pk := range packs {
		for k, i := range pk.Products {
			v, err := p.DecodeProductAt(i, pts[g], pk.Coefficient(k))
			if err != nil {
				return nil, err
			}
			pr := p.products[i]
			out[pr.Stat] += math.Ldexp(v, pr.Shift)
		}
	}
	return out, nil
}

// DecodePackedExact is DecodePacked for an exact plan (DecodeExact): the
// statistics as exact integers; products in no pack count as zero.
func (p *Plan) DecodePackedExact(packs []*Packed, pts []*rlwe.Plaintext) ([]*big.Int, error) {
	if len(packs) != len(pts) {
		return nil, fmt.Errorf("%w: %d plaintexts for %d packs", ErrInvalidCircuit, len(pts), len(packs))
	}
	out := p.zeroStats()
	for g, pk := range packs {
		for k, i := range pk.Products {
			if err := p.addExact(out, i, pts[g], pk.Coefficient(k)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
