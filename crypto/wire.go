package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// ErrWire is returned when bytes from a peer do not encode an object of the
// expected shape.
var ErrWire = errors.New("crypto: malformed wire object")

// Wire encoding of the objects nodes and queriers exchange.
//
// Lattigo's own binary format carries size headers that its decoder trusts:
// a peer can make it allocate whatever a header claims, and a truncated
// input sends it into unbounded recursion. Objects that come from the
// network therefore use this fixed-shape encoding instead: the receiver
// allocates the object it expects from its own parameters (ring degree,
// levels, decomposition), and the bytes are nothing but the coefficients in
// a canonical order, 8 bytes little-endian each. A wrong length, or a
// coefficient not reduced modulo its prime, is an error; no byte of the
// input can change the shape. Lattigo's format is still used for the node's
// own files, which it alone writes.
//
// Supported: *rlwe.Ciphertext, *rlwe.PublicKey, *mhe.PublicKeyGenShare,
// *mhe.RelinearizationKeyGenShare, *mhe.GaloisKeyGenShare (its Galois
// element comes first, 8 bytes) and *mhe.PublicKeySwitchShare.

// MarshalWire encodes v in the fixed-shape wire encoding.
func MarshalWire(params rlwe.Parameters, v any) ([]byte, error) {
	size, err := WireSize(params, v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	if g, ok := v.(*mhe.GaloisKeyGenShare); ok {
		out = binary.LittleEndian.AppendUint64(out, g.GaloisElement)
	}
	err = walk(params, v, func(p ring.Poly, moduli []uint64) error {
		for k, row := range p.Coeffs {
			q := moduli[k]
			for _, c := range row {
				// Some protocols (RKG round two) leave coefficients lazily
				// reduced; the wire carries canonical residues.
				out = binary.LittleEndian.AppendUint64(out, c%q)
			}
		}
		return nil
	})
	return out, err
}

// UnmarshalWire decodes b into v, which must already have the expected
// shape (allocate it from the parameters, e.g. rlwe.NewCiphertext). For a
// *mhe.GaloisKeyGenShare, v.GaloisElement must be set to the expected
// element and the encoded one must match it.
func UnmarshalWire(params rlwe.Parameters, b []byte, v any) error {
	size, err := WireSize(params, v)
	if err != nil {
		return err
	}
	if len(b) != size {
		return fmt.Errorf("%w: %T of %d bytes, want %d", ErrWire, v, len(b), size)
	}
	if g, ok := v.(*mhe.GaloisKeyGenShare); ok {
		if el := binary.LittleEndian.Uint64(b); el != g.GaloisElement {
			return fmt.Errorf("%w: share for Galois element %d, want %d", ErrWire, el, g.GaloisElement)
		}
		b = b[8:]
	}
	return walk(params, v, func(p ring.Poly, moduli []uint64) error {
		for k, row := range p.Coeffs {
			q := moduli[k]
			for i := range row {
				c := binary.LittleEndian.Uint64(b)
				if c >= q {
					return fmt.Errorf("%w: %T: coefficient not reduced modulo its prime", ErrWire, v)
				}
				row[i] = c
				b = b[8:]
			}
		}
		return nil
	})
}

// WireSize returns the length of v's wire encoding.
func WireSize(params rlwe.Parameters, v any) (int, error) {
	n := 0
	if _, ok := v.(*mhe.GaloisKeyGenShare); ok {
		n = 8
	}
	err := walk(params, v, func(p ring.Poly, _ []uint64) error {
		for _, row := range p.Coeffs {
			n += 8 * len(row)
		}
		return nil
	})
	return n, err
}

// walk calls fn on every polynomial of v in canonical order, with the
// moduli of its RNS rows.
func walk(params rlwe.Parameters, v any, fn func(ring.Poly, []uint64) error) error {
	q, p := params.Q(), params.P()
	poly := func(x ring.Poly, moduli []uint64) error {
		if len(x.Coeffs) > len(moduli) {
			return fmt.Errorf("%w: polynomial with %d RNS rows for %d moduli", ErrWire, len(x.Coeffs), len(moduli))
		}
		for _, row := range x.Coeffs {
			if len(row) != params.N() {
				return fmt.Errorf("%w: polynomial of degree %d, want %d", ErrWire, len(row), params.N())
			}
		}
		return fn(x, moduli)
	}
	polyQP := func(x ringqp.Poly) error {
		if err := poly(x.Q, q); err != nil {
			return err
		}
		return poly(x.P, p)
	}
	gadget := func(g rlwe.GadgetCiphertext) error {
		for _, row := range g.Value {
			for _, vec := range row {
				for _, x := range vec {
					if err := polyQP(x); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	switch v := v.(type) {
	case *rlwe.Ciphertext:
		for _, x := range v.Value {
			if err := poly(x, q); err != nil {
				return err
			}
		}
	case *mhe.PublicKeySwitchShare:
		for _, x := range v.Value {
			if err := poly(x, q); err != nil {
				return err
			}
		}
	case *rlwe.PublicKey:
		for _, x := range v.Value {
			if err := polyQP(x); err != nil {
				return err
			}
		}
	case *mhe.PublicKeyGenShare:
		return polyQP(v.Value)
	case *mhe.RelinearizationKeyGenShare:
		return gadget(v.GadgetCiphertext)
	case *mhe.GaloisKeyGenShare:
		return gadget(v.GadgetCiphertext)
	default:
		return fmt.Errorf("%w: %T has no wire encoding", ErrWire, v)
	}
	return nil
}

// NewShare allocates a key-switch share for a ciphertext at level.
func (k *KeySwitch) NewShare(level int) *mhe.PublicKeySwitchShare {
	s := k.proto.AllocateShare(level)
	return &s
}
