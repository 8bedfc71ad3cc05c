package crypto

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// Collective public key generation (CKG): one round, each party sends one
// share and the aggregate of all shares is the public key.

// NewPublicKeyShare allocates a CKG share of the expected shape.
func (k *KeyGen) NewPublicKeyShare() *mhe.PublicKeyGenShare {
	s := k.ckg.AllocateShare()
	return &s
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
