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

// Version is the latest version of this package's normalization rules.
// It is raised whenever the rules of any kind change, and the kind whose
// rules changed takes the new number as its KindVersion; the other kinds
// keep theirs, so a federation matching only on them is not disturbed.
const Version = 1

// The version of each kind's rules: the Version at which they last
// changed. The id kind joined at version 1 without changing the others.
const (
	emailVersion = 1
	phoneVersion = 1
	idVersion    = 1
)

// MaxIDBytes bounds a normalized organization-issued identifier: the
// 128 hexadecimal digits of a SHA-512 hash fit.
const MaxIDBytes = 128

// Errors returned for identifiers that cannot be normalized.
var (
	ErrInvalidEmail = errors.New("ident: invalid e-mail address")
	ErrInvalidPhone = errors.New("ident: invalid phone number")
	ErrInvalidID    = errors.New("ident: invalid identifier")
	ErrUnknownKind  = errors.New("ident: unknown identifier kind")
)

// Kind is the kind of identifier a federation joins on.
type Kind string

// The identifier kinds.
const (
	KindEmail Kind = "email"
	KindPhone Kind = "phone"
	// KindID is an identifier an organization issued and both data owners
	// hold: a loyalty-card or policy number, or a hash of a national id
	// computed the way the two owners agreed.
	KindID Kind = "id"
)

// Kinds lists every identifier kind, in the order documentation names them.
var Kinds = []Kind{KindEmail, KindPhone, KindID}

// ParseKind returns the Kind named s ("email", "phone" or "id").
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindEmail, KindPhone, KindID:
		return k, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownKind, s)
}

// KindVersion is the version of kind's normalization rules, 0 for a kind
// this package does not know.
func KindVersion(kind Kind) uint32 {
	switch kind {
	case KindEmail:
		return emailVersion
	case KindPhone:
		return phoneVersion
	case KindID:
		return idVersion
	}
	return 0
}

// SessionVersion is the normalization version two nodes matching on kinds
// compare before they match, and bind into the session's hash domain: the
// highest KindVersion of the kinds. Since a kind's version is the package
// Version at which its rules last changed, two builds give the same number
// for the same kinds exactly when the rules of every one of those kinds
// are the same. Kinds this package does not know count as 0.
func SessionVersion(kinds ...Kind) uint32 {
	var v uint32
	for _, k := range kinds {
		v = max(v, KindVersion(k))
	}
	return v
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
	case KindID:
		return NormalizeID(value)
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

// NormalizeID normalizes an organization-issued identifier, so that
// "ab-123 456.7", "AB1234567" and "ＡＢ１２３４５６７" agree. In order:
//
//  1. The input must be valid UTF-8.
//  2. Unicode NFKC (full-width and compatibility forms become their plain
//     form), then upper-case by the simple Unicode mapping (so "ß" stays
//     "ß"), then NFKC again.
//  3. Every white-space character (Unicode White_Space: spaces of any
//     width, tabs, line breaks), every dash (Unicode category Pd: "-",
//     "‐", "–", "—", …) and every full stop "." is removed, wherever it
//     is; then NFKC once more, since a removed character may have stood
//     between a letter and its combining mark.
//
// The result is accepted when it is 1 to MaxIDBytes bytes long, holds at
// least one letter or number (Unicode categories L and N), and consists
// only of letters, combining marks, numbers, punctuation and symbols
// (categories L, M, N, P and S): control and format characters
// (zero-width spaces, direction marks), private-use and unassigned code
// points are rejected. Nothing else changes: leading zeros and every
// other character, "/" or "_" included, are significant. Case is not, so
// hashed identifiers should be written in hexadecimal, not base64.
func NormalizeID(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidID)
	}
	s = norm.NFKC.String(strings.ToUpper(norm.NFKC.String(s)))
	s = norm.NFKC.String(strings.Map(func(r rune) rune {
		if r == '.' || unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) {
			return -1
		}
		return r
	}, s))
	switch {
	case s == "":
		return "", fmt.Errorf("%w: empty", ErrInvalidID)
	case len(s) > MaxIDBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidID, MaxIDBytes)
	}
	alnum := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.N, r):
			alnum = true
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: control character", ErrInvalidID)
		case unicode.Is(unicode.Cf, r):
			return "", fmt.Errorf("%w: format character", ErrInvalidID)
		case unicode.Is(unicode.M, r) || unicode.IsPunct(r) || unicode.IsSymbol(r):
		default:
			// Private use and unassigned code points, whose form a
			// later Unicode version may change.
			return "", fmt.Errorf("%w: private-use or unassigned character", ErrInvalidID)
		}
	}
	if !alnum {
		return "", fmt.Errorf("%w: no letter or number", ErrInvalidID)
	}
	return s, nil
}
