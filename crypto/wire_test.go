package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// wireCase is one wire type: a real object and a fresh one of the expected shape.
type wireCase struct {
	name  string
	value any
	alloc func() any
}

func wireCases(t testing.TB) []wireCase {
	params := MustParameters(PresetTest)
	seeds := map[string][]byte{"a": bytes.Repeat([]byte{1}, SeedSize), "b": bytes.Repeat([]byte{2}, SeedSize)}
	d, err := CRSDigest("f", PresetTest, seeds)
	if err != nil {
		t.Fatal(err)
	}
	crs, _ := NewCRS(d)
	kg := NewKeyGen(params, crs)
	sk := kg.GenSecretKey()
	_, r1 := kg.RelinRoundOne(sk)
	g := kg.GaloisElements[0]
	gs, err := kg.GaloisShare(sk, g)
	if err != nil {
		t.Fatal(err)
	}
	tsk, tpk := rlwe.NewKeyGenerator(params).GenKeyPairNew()
	_ = tsk
	ct := rlwe.NewCiphertext(params, 1, params.MaxLevel())
	if err := rlwe.NewEncryptor(params, tpk).EncryptZero(ct); err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySwitch(params, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ckg := kg.PublicKeyShare(sk)
	pcks, err := ks.Share(sk, tpk, ct)
	if err != nil {
		t.Fatal(err)
	}
	return []wireCase{
		{"ciphertext", ct, func() any { return rlwe.NewCiphertext(params, 1, params.MaxLevel()) }},
		{"public key", tpk, func() any { return rlwe.NewPublicKey(params) }},
		{"ckg share", &ckg, func() any { return kg.NewPublicKeyShare() }},
		{"rkg share", &r1, func() any { return kg.NewRelinShare() }},
		{"gkg share", &gs, func() any { return kg.NewGaloisShare(g) }},
		{"pcks share", &pcks, func() any { return ks.NewShare(params.MaxLevel()) }},
	}
}

func TestWireRoundTrip(t *testing.T) {
	params := MustParameters(PresetTest)
	for _, tc := range wireCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b, err := MarshalWire(params, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			out := tc.alloc()
			if err := UnmarshalWire(params, b, out); err != nil {
				t.Fatal(err)
			}
			b2, _ := MarshalWire(params, out)
			if !bytes.Equal(b, b2) {
				t.Fatal("round trip changed the object")
			}
			// Lattigo's own encodings of both agree too: nothing was lost.
			l1, _ := tc.value.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
			l2, _ := out.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
			if !bytes.Equal(l1, l2) {
				t.Fatal("decoded object differs from the original")
			}

			for name, bad := range map[string][]byte{
				"empty":     nil,
				"truncated": b[:len(b)-1],
				"one short": b[:len(b)-8],
				"too long":  append(append([]byte(nil), b...), 0),
			} {
				if err := UnmarshalWire(params, bad, tc.alloc()); !errors.Is(err, ErrWire) {
					t.Fatalf("%s input: want ErrWire, got %v", name, err)
				}
			}
			unreduced := append([]byte(nil), b...)
			off := len(unreduced) - 8
			binary.LittleEndian.PutUint64(unreduced[off:], ^uint64(0))
			if err := UnmarshalWire(params, unreduced, tc.alloc()); !errors.Is(err, ErrWire) {
				t.Fatalf("unreduced coefficient: want ErrWire, got %v", err)
			}
		})
	}
}

func TestWireGaloisElementChecked(t *testing.T) {
	params := MustParameters(PresetTest)
	cases := wireCases(t)
	gs := cases[4]
	b, _ := MarshalWire(params, gs.value)
	other := gs.alloc().(*mhe.GaloisKeyGenShare)
	other.GaloisElement++
	if err := UnmarshalWire(params, b, other); !errors.Is(err, ErrWire) {
		t.Fatalf("share for another Galois element accepted: %v", err)
	}
	if _, err := MarshalWire(params, "not a wire type"); !errors.Is(err, ErrWire) {
		t.Fatalf("unsupported type: %v", err)
	}
}

func FuzzUnmarshalWire(f *testing.F) {
	params := MustParameters(PresetTest)
	cases := wireCases(f)
	for i, tc := range cases {
		b, _ := MarshalWire(params, tc.value)
		f.Add(uint8(i), b[:min(len(b), 64)])
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		tc := cases[int(which)%len(cases)]
		// Arbitrary bytes must give an error or a well-formed object, never a crash.
		out := tc.alloc()
		if err := UnmarshalWire(params, b, out); err == nil {
			if _, err := MarshalWire(params, out); err != nil {
				t.Fatal(fmt.Sprint("accepted object does not re-encode: ", err))
			}
		}
	})
}
