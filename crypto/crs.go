package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// SeedSize is the length of each party's contribution to the common
// reference string.
const SeedSize = 32

// ErrBadSeed is returned when a party's CRS contribution is malformed.
var ErrBadSeed = errors.New("crypto: bad common reference string contribution")

// NewSeed draws a party's contribution to the common reference string from
// crypto/rand.
func NewSeed() ([]byte, error) {
	s := make([]byte, SeedSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("crypto: drawing CRS seed: %w", err)
	}
	return s, nil
}

// CRSDigest combines every party's seed into the key of the common reference
// string. Each party contributes a uniformly random seed, so the result is
// uniform as long as one party is honest: no single party can choose the
// common polynomials. The digest binds the federation name, the preset and
// the set of parties, so keys generated for one federation can never be
// confused with another's.
func CRSDigest(federation, preset string, seeds map[string][]byte) ([]byte, error) {
	if len(seeds) == 0 {
		return nil, fmt.Errorf("%w: no contributions", ErrBadSeed)
	}
	names := make([]string, 0, len(seeds))
	for name, s := range seeds {
		if len(s) != SeedSize {
			return nil, fmt.Errorf("%w: party %q sent %d bytes, want %d", ErrBadSeed, name, len(s), SeedSize)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	writeField := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	writeField([]byte("jointly/crs/v1"))
	writeField([]byte(federation))
	writeField([]byte(preset))
	for _, name := range names {
		writeField([]byte(name))
		writeField(seeds[name])
	}
	return h.Sum(nil), nil
}

// NewCRS returns the common reference string keyed by digest (see CRSDigest).
// Every party that reads it in the same order obtains the same polynomials.
func NewCRS(digest []byte) (mhe.CRS, error) {
	prng, err := sampling.NewKeyedPRNG(digest)
	if err != nil {
		return nil, fmt.Errorf("crypto: keying CRS: %w", err)
	}
	return prng, nil
}
