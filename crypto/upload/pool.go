package upload

import (
	"fmt"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Pool sums the packed product ciphertexts of several sessions that share an
// evaluator and a Plan: the evaluator E against each of the uploaders
// U_1..U_K, whose records are disjoint (two insurers of one retailer's
// customers). Session k decrypts under s_E + s_k, so the sum is no
// ordinary ciphertext; it is c0 = Σ_k c0_k with one c1 per key holder,
//
//	c0 + (Σ_k c1_k)·s_E + Σ_k c1_k·s_k = Σ_k Δ·m_k + e,
//
// and each owner computes its key-switch share on its own c1: the
// evaluator on Σ_k c1_k, uploader k on c1_k. Combining every share with c0
// (crypto.KeySwitch.Switch reads only c0 of the ciphertext it is given)
// switches the sum to the target key; no subset of the owners can. With
// one session the views are the session's ciphertexts.
//
// The plan must be compiled with Parties = K + 1 and MaxRecords at least
// the sum of the sessions' union sizes, so that the sum neither wraps nor
// outgrows the noise bound the flooding hides.
type Pool struct {
	sum      []*Packed
	sessions [][]*Packed
}

// NewPool sums sessions, each the packs of Sums.Pack for the same plan and
// the same products.
func NewPool(plan *Plan, sessions ...[]*Packed) (*Pool, error) {
	if len(sessions) == 0 || len(sessions) > plan.cfg.Parties-1 {
		return nil, fmt.Errorf("%w: %d sessions for a plan of %d owners", ErrInvalidConfig, len(sessions), plan.cfg.Parties)
	}
	first := sessions[0]
	for k, s := range sessions {
		if len(s) != len(first) {
			return nil, fmt.Errorf("%w: session %d has %d packs, session 0 %d", ErrInvalidCircuit, k, len(s), len(first))
		}
		for g, pk := range s {
			if pk == nil || pk.Ct == nil || pk.Ct.Degree() != 1 || !pk.Ct.IsNTT || pk.Ct.Level() != first[g].Ct.Level() ||
				pk.Stride != first[g].Stride || !slices.Equal(pk.Products, first[g].Products) {
				return nil, fmt.Errorf("%w: pack %d of session %d differs from session 0's", ErrInvalidCircuit, g, k)
			}
		}
	}
	p := &Pool{sessions: sessions}
	if len(sessions) == 1 {
		p.sum = first
		return p, nil
	}
	p.sum = make([]*Packed, len(first))
	for g, pk := range first {
		ct := pk.Ct.CopyNew()
		r := plan.params.RingQ().AtLevel(ct.Level())
		for _, s := range sessions[1:] {
			r.Add(ct.Value[0], s[g].Ct.Value[0], ct.Value[0])
			r.Add(ct.Value[1], s[g].Ct.Value[1], ct.Value[1])
		}
		p.sum[g] = &Packed{Products: pk.Products, Stride: pk.Stride, Ct: ct}
	}
	return p, nil
}

// Packs returns the pooled packs: the evaluator's view, (Σ c0, Σ c1), which
// is also what the shares are combined with.
func (p *Pool) Packs() []*Packed { return p.sum }

// Uploader returns uploader k's view of pack g: (Σ c0, c1_k). It shares
// its c0 with the evaluator's view; do not modify it.
func (p *Pool) Uploader(k, g int) *rlwe.Ciphertext {
	if len(p.sessions) == 1 {
		return p.sum[g].Ct
	}
	s := p.sessions[k][g].Ct
	return &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{p.sum[g].Ct.Value[0], s.Value[1]}, MetaData: s.MetaData.CopyNew()}}
}
