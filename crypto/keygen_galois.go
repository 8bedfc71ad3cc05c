package crypto

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// Galois key generation (GKG): one round per Galois element of the Trace,
// each party sending one share per element.

// NewGaloisShare allocates a GKG share for galEl of the expected shape.
func (k *KeyGen) NewGaloisShare(galEl uint64) *mhe.GaloisKeyGenShare {
	s := k.gkg.AllocateShare()
	s.GaloisElement = galEl
	return &s
}

// GaloisShare is this party's GKG share for Galois element galEl.
func (k *KeyGen) GaloisShare(sk *rlwe.SecretKey, galEl uint64) (mhe.GaloisKeyGenShare, error) {
	crp, ok := k.gkgCRP[galEl]
	if !ok {
		return mhe.GaloisKeyGenShare{}, fmt.Errorf("%w: Galois element %d is not part of the setup", ErrShare, galEl)
	}
	sh := k.gkg.AllocateShare()
	if err := k.gkg.GenShare(sk, galEl, crp, &sh); err != nil {
		return sh, fmt.Errorf("crypto: Galois share %d: %w", galEl, err)
	}
	return sh, nil
}

// GaloisKey aggregates every party's share for galEl into the Galois key.
func (k *KeyGen) GaloisKey(galEl uint64, shares []mhe.GaloisKeyGenShare) (*rlwe.GaloisKey, error) {
	crp, ok := k.gkgCRP[galEl]
	if !ok {
		return nil, fmt.Errorf("%w: Galois element %d is not part of the setup", ErrShare, galEl)
	}
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no Galois shares", ErrShare)
	}
	agg := k.gkg.AllocateShare()
	agg.GaloisElement = galEl
	for i, sh := range shares {
		if sh.GaloisElement != galEl {
			return nil, fmt.Errorf("%w: share %d is for Galois element %d, want %d", ErrShare, i, sh.GaloisElement, galEl)
		}
		if sh.BinarySize() != agg.BinarySize() {
			return nil, fmt.Errorf("%w: Galois share %d has the wrong shape", ErrShare, i)
		}
		if err := k.gkg.AggregateShares(sh, agg, &agg); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrShare, err)
		}
	}
	gk := rlwe.NewGaloisKey(k.Params)
	if err := k.gkg.GenGaloisKey(agg, crp, gk); err != nil {
		return nil, fmt.Errorf("crypto: Galois key %d: %w", galEl, err)
	}
	return gk, nil
}
