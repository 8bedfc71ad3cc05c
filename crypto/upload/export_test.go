package upload

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Internals the external tests of this package inspect.

// BlockHeaderSize is the size of a block's header.
const BlockHeaderSize = blockHeaderSize

// TailSigmas is the number of standard deviations the planner allows.
const TailSigmas = tailSigmas

// PayloadBytes is the payload size of a block of wireBits per coefficient.
func PayloadBytes(logN, wireBits int) int { return payloadBytes(logN, wireBits) }

// ResidueWidth is the bit width of the exact residue modulo prime k.
func ResidueWidth(params rlwe.Parameters, k int) uint { return newRNSConsts(params).width[k] }

// FixStd is the standard deviation of the data-independent noise of a
// final ciphertext at level.
func FixStd(params rlwe.Parameters, cfg PlanConfig, level int) (float64, error) {
	nm, err := newNoiseModel(params, cfg)
	if err != nil {
		return 0, err
	}
	return nm.fixStd(level), nil
}

// AtLevel is p restricted to the primes of level.
func AtLevel(p ring.Poly, level int) ring.Poly { return atLevel(p, level) }

// LowCodes extracts the per-coefficient low codes of a block (the only part
// of the payload that could carry the value's high bits).
func LowCodes(p *Plan, b *Block) []uint64 {
	rns := newRNSConsts(p.params)
	var r bitReader
	r.reset(b.Payload)
	out := make([]uint64, p.params.N())
	for i := range out {
		out[i] = r.read(uint(b.LowBits))
		for k := 1; k <= b.Level; k++ {
			r.read(rns.width[k])
		}
	}
	return out
}

// EncryptBlockUnchecked is EncryptBlock without the bounds check: what an
// uploader that runs other code can send (threat-model tests).
func (u *Uploader) EncryptBlockUnchecked(col, index int, vals []int64, out *Block) error {
	return u.encryptBlock(col, index, vals, out)
}
