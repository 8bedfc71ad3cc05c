package aggregate

import (
	"sync"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// testKeys stands in for the multiparty setup: two secret key shares, their
// sum (the ideal key, for measuring noise), the collective public key and
// the Galois keys of the trace, generated with Lattigo's mhe protocols from
// a fixed common reference string.
type testKeys struct {
	params rlwe.Parameters
	shares [2]*rlwe.SecretKey
	ideal  *rlwe.SecretKey
	cpk    *rlwe.PublicKey
	evk    *rlwe.MemEvaluationKeySet
}

var (
	keysMu    sync.Mutex
	keysCache = map[string]*testKeys{}
)

// keysFor returns the keys of a preset, generated once per test binary.
func keysFor(tb testing.TB, preset string) *testKeys {
	tb.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keysCache[preset]; ok {
		return k
	}
	params := crypto.MustParameters(preset)
	crs, err := sampling.NewKeyedPRNG([]byte("aggregate test crs"))
	if err != nil {
		tb.Fatal(err)
	}
	k := &testKeys{params: params}
	kg := rlwe.NewKeyGenerator(params)
	k.ideal = rlwe.NewSecretKey(params)
	for i := range k.shares {
		k.shares[i] = kg.GenSecretKeyNew()
		params.RingQP().Add(k.ideal.Value, k.shares[i].Value, k.ideal.Value)
	}
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(crs)
	agg := ckg.AllocateShare()
	for _, sk := range k.shares {
		sh := ckg.AllocateShare()
		ckg.GenShare(sk, crp, &sh)
		ckg.AggregateShares(sh, agg, &agg)
	}
	k.cpk = rlwe.NewPublicKey(params)
	ckg.GenPublicKey(agg, crp, k.cpk)
	gkg := mhe.NewGaloisKeyGenProtocol(params)
	var gks []*rlwe.GaloisKey
	for _, g := range rlwe.GaloisElementsForTrace(params, 0) {
		gcrp := gkg.SampleCRP(crs)
		gagg := gkg.AllocateShare()
		gagg.GaloisElement = g
		for _, sk := range k.shares {
			sh := gkg.AllocateShare()
			if err := gkg.GenShare(sk, g, gcrp, &sh); err != nil {
				tb.Fatal(err)
			}
			if err := gkg.AggregateShares(sh, gagg, &gagg); err != nil {
				tb.Fatal(err)
			}
		}
		gk := rlwe.NewGaloisKey(params)
		if err := gkg.GenGaloisKey(gagg, gcrp, gk); err != nil {
			tb.Fatal(err)
		}
		gks = append(gks, gk)
	}
	k.evk = rlwe.NewMemEvaluationKeySet(nil, gks...)
	keysCache[preset] = k
	return k
}

// Roles in the tests: share 0 is the evaluating node, share 1 the uploader.
const (
	evalShare   = 0
	uploadShare = 1
)
