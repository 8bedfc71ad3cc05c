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

		{"id plain", KindID, "AB123456", "", "AB123456", nil},
		{"id lower case", KindID, "ab123456", "", "AB123456", nil},
		{"id spaces dashes dots", KindID, " ab-123 456.7\t", "", "AB1234567", nil},
		{"id full-width", KindID, "ＡＢ－１２３　４５６．７", "", "AB1234567", nil},
		{"id unicode dashes", KindID, "12\u201034\u201356\u201478\u2212", "", "12345678\u2212", nil},
		{"id no-break and thin spaces", KindID, "12\u00a034\u200956", "", "123456", nil},
		{"id line break", KindID, "1234\n5678", "", "12345678", nil},
		{"id leading zeros kept", KindID, "000123", "", "000123", nil},
		{"id other punctuation kept", KindID, "ab/12_3#4", "", "AB/12_3#4", nil},
		{"id digits only", KindID, "4111 1111 1111 1111", "", "4111111111111111", nil},
		{"id hex hash", KindID, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", nil},
		{"id accents composed", KindID, "ren\u00e9-42", "", "REN\u00c942", nil},
		{"id accents decomposed", KindID, "rene\u0301 42", "", "REN\u00c942", nil},
		{"id mark after removed dash", KindID, "rene-\u0301", "", "REN\u00c9", nil},
		{"id sharp s", KindID, "stra\u00dfe1", "", "STRA\u00dfE1", nil},
		{"id roman numeral", KindID, "\u216b-7", "", "XII7", nil},
		{"id superscript", KindID, "x\u00b2", "", "X2", nil},
		{"id longest", KindID, strings.Repeat("a", MaxIDBytes), "", strings.Repeat("A", MaxIDBytes), nil},
		{"id longest after removal", KindID, strings.Repeat("a-", MaxIDBytes), "", strings.Repeat("A", MaxIDBytes), nil},
		{"id too long", KindID, strings.Repeat("a", MaxIDBytes+1), "", "", ErrInvalidID},
		{"id too long in bytes", KindID, strings.Repeat("\u00e9", MaxIDBytes/2+1), "", "", ErrInvalidID},
		{"id empty", KindID, "", "", "", ErrInvalidID},
		{"id white space", KindID, " \t\u3000", "", "", ErrInvalidID},
		{"id separators only", KindID, "- . \u2013", "", "", ErrInvalidID},
		{"id no letter or number", KindID, "#/*", "", "", ErrInvalidID},
		{"id control", KindID, "1234\x005678", "", "", ErrInvalidID},
		{"id escape", KindID, "1234\x1b5678", "", "", ErrInvalidID},
		{"id zero-width space", KindID, "1234\u200b5678", "", "", ErrInvalidID},
		{"id direction mark", KindID, "\u200f12345678", "", "", ErrInvalidID},
		{"id byte-order mark", KindID, "\ufeff12345678", "", "", ErrInvalidID},
		{"id private use", KindID, "1234\ue0005678", "", "", ErrInvalidID},
		{"id unassigned", KindID, "1234\U000e00005678", "", "", ErrInvalidID},
		{"id invalid UTF-8", KindID, "1234\xff5678", "", "", ErrInvalidID},

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
	for in, want := range map[string]Kind{"email": KindEmail, " Phone ": KindPhone, "id": KindID, "ID": KindID} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("fax"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("ParseKind(fax): %v", err)
	}
}

// TestSessionVersion: a session's version is that of its kinds' rules, the
// same whatever their order, and one unknown kind does not lower it.
func TestSessionVersion(t *testing.T) {
	for _, k := range Kinds {
		if v := KindVersion(k); v == 0 || v > Version {
			t.Errorf("KindVersion(%s) = %d, Version %d", k, v, Version)
		}
	}
	if v := KindVersion("fax"); v != 0 {
		t.Errorf("KindVersion(fax) = %d", v)
	}
	// The hello and the hash domain of sessions on e-mail and phone carry
	// v1, as they did before the id kind: such federations keep matching
	// across builds with and without it.
	for _, kinds := range [][]Kind{{KindEmail}, {KindPhone}, {KindEmail, KindPhone}, {KindPhone, KindEmail}} {
		if v := SessionVersion(kinds...); v != 1 {
			t.Errorf("SessionVersion(%v) = %d, want 1", kinds, v)
		}
	}
	if a, b := SessionVersion(KindID, KindEmail), SessionVersion(KindEmail, KindID); a != b || a < KindVersion(KindID) {
		t.Errorf("SessionVersion id, email = %d; email, id = %d", a, b)
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

func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"ab-123 456.7", "ＡＢ－１２３", "rene-\u0301", "\u0345-x", "i\u0307", "\u00df", "-", "a\u200bb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error of another class: %v", err)
			}
			return
		}
		if got == "" || len(got) > MaxIDBytes || strings.ContainsAny(got, " .-") {
			t.Fatalf("%q normalizes to %q", s, got)
		}
		again, err := NormalizeID(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
