package crypto

import (
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// ErrShare is returned when a share received from a peer does not fit the
// protocol round it is used in.
var ErrShare = errors.New("crypto: invalid key-generation share")

// KeyGen holds the public state of the federation's key generation: the
// parameters, the common reference polynomials for every protocol, and the
// Galois elements the statistics circuits need. It is identical on every
// party, because every party derives it from the same CRS in the same order.
type KeyGen struct {
	Params rlwe.Parameters
	// GaloisElements are the automorphisms of the Trace (README.md, GKG)
	// in the order their keys are generated.
	GaloisElements []uint64

	ckg    mhe.PublicKeyGenProtocol
	rkg    mhe.RelinearizationKeyGenProtocol
	gkg    mhe.GaloisKeyGenProtocol
	ckgCRP mhe.PublicKeyGenCRP
	rkgCRP mhe.RelinearizationKeyGenCRP
	gkgCRP map[uint64]mhe.GaloisKeyGenCRP
}

// NewKeyGen samples the common reference polynomials from crs. The order is
// fixed (CKG, RKG, then GKG in GaloisElements order) so that all parties
// agree on them.
func NewKeyGen(params rlwe.Parameters, crs mhe.CRS) *KeyGen {
	k := &KeyGen{
		Params:         params,
		GaloisElements: TraceGaloisElements(params),
		ckg:            mhe.NewPublicKeyGenProtocol(params),
		rkg:            mhe.NewRelinearizationKeyGenProtocol(params),
		gkg:            mhe.NewGaloisKeyGenProtocol(params),
		gkgCRP:         make(map[uint64]mhe.GaloisKeyGenCRP),
	}
	k.ckgCRP = k.ckg.SampleCRP(crs)
	k.rkgCRP = k.rkg.SampleCRP(crs)
	for _, g := range k.GaloisElements {
		k.gkgCRP[g] = k.gkg.SampleCRP(crs)
	}
	return k
}

// TraceGaloisElements returns the Galois elements of the full Trace
// (coefficient-encoded inner products fold onto the constant coefficient).
func TraceGaloisElements(params rlwe.Parameters) []uint64 {
	return rlwe.GaloisElementsForTrace(params, 0)
}

// GenSecretKey draws this party's secret key share.
func (k *KeyGen) GenSecretKey() *rlwe.SecretKey {
	return rlwe.NewKeyGenerator(k.Params).GenSecretKeyNew()
}

// PublicKeyShare is this party's CKG share.
func (k *KeyGen) PublicKeyShare(sk *rlwe.SecretKey) mhe.PublicKeyGenShare {
	sh := k.ckg.AllocateShare()
	k.ckg.GenShare(sk, k.ckgCRP, &sh)
	return sh
}

// PublicKey aggregates every party's CKG share into the collective public
// key. Both it and GaloisKey are linear in the shares: the shares of any
// subset of the parties give the keys of the sum of their secrets, which is
// how a result of two owners of a larger federation is traced and
// re-randomized under exactly those two owners' key.
func (k *KeyGen) PublicKey(shares []mhe.PublicKeyGenShare) (*rlwe.PublicKey, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no public-key shares", ErrShare)
	}
	agg := k.ckg.AllocateShare()
	for i, sh := range shares {
		if sh.BinarySize() != agg.BinarySize() {
			return nil, fmt.Errorf("%w: public-key share %d has the wrong shape", ErrShare, i)
		}
		k.ckg.AggregateShares(sh, agg, &agg)
	}
	pk := rlwe.NewPublicKey(k.Params)
	k.ckg.GenPublicKey(agg, k.ckgCRP, pk)
	return pk, nil
}

// RelinRoundOne returns this party's first-round RKG share and the ephemeral
// secret it must keep (never send) for round two.
func (k *KeyGen) RelinRoundOne(sk *rlwe.SecretKey) (eph *rlwe.SecretKey, share mhe.RelinearizationKeyGenShare) {
	eph, share, _ = k.rkg.AllocateShare()
	k.rkg.GenShareRoundOne(sk, k.rkgCRP, eph, &share)
	return eph, share
}

// AggregateRelin sums one round's RKG shares of all parties.
func (k *KeyGen) AggregateRelin(shares []mhe.RelinearizationKeyGenShare) (mhe.RelinearizationKeyGenShare, error) {
	_, agg, _ := k.rkg.AllocateShare()
	if len(shares) == 0 {
		return agg, fmt.Errorf("%w: no relinearization shares", ErrShare)
	}
	for i, sh := range shares {
		if sh.BinarySize() != agg.BinarySize() {
			return agg, fmt.Errorf("%w: relinearization share %d has the wrong shape", ErrShare, i)
		}
		k.rkg.AggregateShares(sh, agg, &agg)
	}
	return agg, nil
}

// RelinRoundTwo returns this party's second-round RKG share, computed from
// the aggregate of all first-round shares.
func (k *KeyGen) RelinRoundTwo(eph, sk *rlwe.SecretKey, round1 mhe.RelinearizationKeyGenShare) mhe.RelinearizationKeyGenShare {
	_, _, share := k.rkg.AllocateShare()
	k.rkg.GenShareRoundTwo(eph, sk, round1, &share)
	return share
}

// RelinearizationKey combines the aggregated round-one and round-two shares.
func (k *KeyGen) RelinearizationKey(round1, round2 mhe.RelinearizationKeyGenShare) *rlwe.RelinearizationKey {
	rlk := rlwe.NewRelinearizationKey(k.Params)
	k.rkg.GenRelinearizationKey(round1, round2, rlk)
	return rlk
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
