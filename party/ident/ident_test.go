package ident

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   Kind
		in     string
		region string
		want   string
		err    error
	}{
		{"email plain", KindEmail, "ann@example.com", "", "ann@example.com", nil},
		{"email case", KindEmail, "Ann.Lee@Example.COM", "", "ann.lee@example.com", nil},
		{"email white space", KindEmail, " \tann@example.com\r\n", "", "ann@example.com", nil},
		{"email ideographic space", KindEmail, "\u3000ann@example.com\u3000", "", "ann@example.com", nil},
		{"email full-width", KindEmail, "ＡＮＮ＠ｅｘａｍｐｌｅ．ｃｏｍ", "", "ann@example.com", nil},
		{"email composed", KindEmail, "jos\u00e9@example.com", "", "jos\u00e9@example.com", nil},
		{"email decomposed", KindEmail, "jose\u0301@example.com", "", "jos\u00e9@example.com", nil},
		{"email upper decomposed", KindEmail, "JOSE\u0301@EXAMPLE.COM", "", "jos\u00e9@example.com", nil},
		{"email ligature", KindEmail, "\ufb01sh@example.com", "", "fish@example.com", nil},
		{"email no at", KindEmail, "ann.example.com", "", "", ErrInvalidEmail},
		{"email two ats", KindEmail, "ann@lee@example.com", "", "", ErrInvalidEmail},
		{"email empty local", KindEmail, "@example.com", "", "", ErrInvalidEmail},
		{"email empty domain", KindEmail, "ann@", "", "", ErrInvalidEmail},
		{"email inner space", KindEmail, "ann lee@example.com", "", "", ErrInvalidEmail},
		{"email control", KindEmail, "ann\x00@example.com", "", "", ErrInvalidEmail},
		{"email invalid UTF-8", KindEmail, "ann\xff@example.com", "", "", ErrInvalidEmail},
		{"email empty", KindEmail, "   ", "", "", ErrInvalidEmail},

		{"phone parentheses", KindPhone, "(415) 555-2671", "US", "+14155552671", nil},
		{"phone international", KindPhone, "+1 415 555 2671", "US", "+14155552671", nil},
		{"phone dots", KindPhone, "415.555.2671", "US", "+14155552671", nil},
		{"phone region lower case", KindPhone, "415-555-2671", "us", "+14155552671", nil},
		{"phone international other region", KindPhone, "+1 415 555 2671", "GB", "+14155552671", nil},
		{"phone full-width digits", KindPhone, "４１５ ５５５ ２６７１", "US", "+14155552671", nil},
		{"phone UK national", KindPhone, "020 7183 8750", "GB", "+442071838750", nil},
		{"phone UK international", KindPhone, "+44 (0)20 7183 8750", "US", "+442071838750", nil},
		{"phone UK mobile", KindPhone, "07400 123456", "GB", "+447400123456", nil},
		{"phone too short", KindPhone, "555-2671", "US", "", ErrInvalidPhone},
		{"phone letters", KindPhone, "not a number", "US", "", ErrInvalidPhone},
		{"phone no region", KindPhone, "415 555 2671", "", "", ErrInvalidPhone},
		{"phone invalid area", KindPhone, "(123) 555-2671", "US", "", ErrInvalidPhone},
		{"phone empty", KindPhone, " ", "US", "", ErrInvalidPhone},

		{"unknown kind", Kind("ssn"), "123", "", "", ErrUnknownKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.kind, tc.in, tc.region)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				if trimmed := strings.TrimSpace(tc.in); len(trimmed) > 3 && strings.Contains(err.Error(), trimmed) {
					t.Fatal("error text carries the identifier")
				}
				return
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// Normalized identifiers are fixed points, so re-normalizing a
			// stored value never changes its match.
			again, err := Normalize(tc.kind, got, tc.region)
			if err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"email": KindEmail, " Phone ": KindPhone} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("fax"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("ParseKind(fax): %v", err)
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", "ＡＮＮ＠ｅｘａｍｐｌｅ．ｃｏｍ", "jose\u0301@x", "@", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"(415) 555-2671", "+44 20 7183 8750", "４１５ ５５５ ２６７１", "+", "0"} {
		f.Add(s, "US")
	}
	f.Add("020 7183 8750", "GB")
	f.Fuzz(func(t *testing.T, s, region string) {
		got, err := NormalizePhone(s, region)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "+") {
			t.Fatalf("%q is not E.164", got)
		}
		// An E.164 number carries its country code, so it normalizes to
		// itself in any default region.
		again, err := NormalizePhone(got, "")
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
