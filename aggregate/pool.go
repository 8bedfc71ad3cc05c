package aggregate

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Pool sums the product ciphertexts of several sessions that share an
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
	sum      []*rlwe.Ciphertext
	sessions [][]*rlwe.Ciphertext
}

// NewPool sums sessions, each the output of Evaluator.Finalize for the
// same plan (one ciphertext per product, in Plan.Products order).
func NewPool(plan *Plan, sessions ...[]*rlwe.Ciphertext) (*Pool, error) {
	if len(sessions) == 0 || len(sessions) > plan.cfg.Parties-1 {
		return nil, fmt.Errorf("%w: %d sessions for a plan of %d owners", ErrInvalidConfig, len(sessions), plan.cfg.Parties)
	}
	n := len(plan.products)
	for k, s := range sessions {
		if len(s) != n {
			return nil, fmt.Errorf("%w: session %d has %d ciphertexts for %d products", ErrInvalidCircuit, k, len(s), n)
		}
		for i, ct := range s {
			if ct == nil || ct.Degree() != 1 || ct.Level() != plan.cols[plan.products[i].Column].Level || !ct.IsNTT {
				return nil, fmt.Errorf("%w: session %d product %d is not a degree-1 NTT ciphertext at the plan's level", ErrInvalidCircuit, k, i)
			}
		}
	}
	p := &Pool{sessions: sessions}
	if len(sessions) == 1 {
		p.sum = sessions[0]
		return p, nil
	}
	p.sum = make([]*rlwe.Ciphertext, n)
	for i := range p.sum {
		p.sum[i] = sessions[0][i].CopyNew()
		r := plan.params.RingQ().AtLevel(p.sum[i].Level())
		for _, s := range sessions[1:] {
			r.Add(p.sum[i].Value[0], s[i].Value[0], p.sum[i].Value[0])
			r.Add(p.sum[i].Value[1], s[i].Value[1], p.sum[i].Value[1])
		}
	}
	return p, nil
}

// Sessions returns the number of pooled sessions.
func (p *Pool) Sessions() int { return len(p.sessions) }

// Evaluator returns the evaluator's view of product i: (Σ c0, Σ c1). It is
// also the ciphertext the shares are combined with.
func (p *Pool) Evaluator(i int) *rlwe.Ciphertext { return p.sum[i] }

// Uploader returns uploader k's view of product i: (Σ c0, c1_k). It shares
// its c0 with the evaluator's view; do not modify it.
func (p *Pool) Uploader(k, i int) *rlwe.Ciphertext {
	if len(p.sessions) == 1 {
		return p.sum[i]
	}
	s := p.sessions[k][i]
	return &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{p.sum[i].Value[0], s.Value[1]}, MetaData: s.MetaData.CopyNew()}}
}
