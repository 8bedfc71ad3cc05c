package ident

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

// Version identifies the normalization rules of this package.
const Version = 1

// Errors returned for identifiers that cannot be normalized.
var (
	ErrInvalidEmail = errors.New("ident: invalid e-mail address")
	ErrInvalidPhone = errors.New("ident: invalid phone number")
	ErrUnknownKind  = errors.New("ident: unknown identifier kind")
)

// Kind is the kind of identifier a federation joins on.
type Kind string

// The identifier kinds.
const (
	KindEmail Kind = "email"
	KindPhone Kind = "phone"
)

// ParseKind returns the Kind named s ("email" or "phone").
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindEmail, KindPhone:
		return k, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownKind, s)
}

// Normalize normalizes value as an identifier of the given kind; region is
// the default region (ISO 3166-1 alpha-2, e.g. "US") for phone numbers
// written without a country code and is ignored for e-mail.
func Normalize(kind Kind, value, region string) (string, error) {
	switch kind {
	case KindEmail:
		return NormalizeEmail(value)
	case KindPhone:
		return NormalizePhone(value, region)
	}
	return "", fmt.Errorf("%w %q", ErrUnknownKind, string(kind))
}

// NormalizeEmail trims surrounding white space, applies Unicode NFKC (so that
// full-width and compatibility forms and composed/decomposed accents agree)
// and lower-cases the whole address. The result must have exactly one '@'
// with a non-empty local part and domain, and no white space or control
// characters.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		// Lower-casing would turn every invalid byte into U+FFFD and make
		// distinct inputs collide.
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidEmail)
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	// Lower-casing can leave a string that is no longer in NFKC, so
	// normalize again; the result is a fixed point of this function.
	s = norm.NFKC.String(strings.ToLower(s))
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: no '@'", ErrInvalidEmail)
	case strings.Contains(domain, "@"):
		return "", fmt.Errorf("%w: more than one '@'", ErrInvalidEmail)
	case local == "":
		return "", fmt.Errorf("%w: empty local part", ErrInvalidEmail)
	case domain == "":
		return "", fmt.Errorf("%w: empty domain", ErrInvalidEmail)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", fmt.Errorf("%w: white space or control character", ErrInvalidEmail)
	}
	return s, nil
}

// NormalizePhone parses a phone number written in any common format and
// returns it in E.164 ("+14155552671"). Numbers without a country code are
// read in defaultRegion; numbers that are not valid for their region are
// rejected rather than guessed at.
func NormalizePhone(s, defaultRegion string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidPhone)
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	// The library's errors are not wrapped: their text is not ours to vet
	// for echoes of the input.
	num, err := phonenumbers.Parse(s, strings.ToUpper(strings.TrimSpace(defaultRegion)))
	if err != nil {
		return "", fmt.Errorf("%w: not parseable (default region %q)", ErrInvalidPhone, defaultRegion)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: not a valid number for its region", ErrInvalidPhone)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
