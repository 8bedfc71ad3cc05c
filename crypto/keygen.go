package crypto

import (
	"errors"

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
