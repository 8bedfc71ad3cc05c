package crypto

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// Relinearization key generation (RKG): two rounds, the second computed
// from the aggregate of the first.

// NewRelinShare allocates an RKG share (either round) of the expected shape.
func (k *KeyGen) NewRelinShare() *mhe.RelinearizationKeyGenShare {
	_, s, _ := k.rkg.AllocateShare()
	return &s
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
