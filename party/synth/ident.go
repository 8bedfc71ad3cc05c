package synth

import "strconv"

// side draws the parts of a record that belong to one data owner. From the
// side's stream (r): research consent first, so the other side can
// recompute it, then the formatting noise of the identifiers. From the
// side's record stream (x): marketing consent, whether the phone is
// missing and whether the e-mail is another address of the person, in
// that order, then the formatting noise of that other address.
type side struct {
	r, x   rng
	m      *Model
	noise  Noise
	emailB []byte
}

func newSide(m *Model, noise Noise) *side {
	return &side{r: newRNG(), x: newRNG(), m: m, noise: noise}
}

func (s *side) consent() bool { return s.r.Float64() >= s.m.OptOut }

// record is what a side's record stream decides.
type record struct {
	marketing bool
	noPhone   bool
	// changed: the record carries another e-mail address of the person
	// (used by the insurer only; the retailer draws it and ignores it, so
	// both sides' record streams read alike).
	changed bool
}

// record draws the record stream's decisions; x must be reset first.
func (s *side) record(consent bool) record {
	return record{
		marketing: s.x.Float64() < s.m.MarketingConsent[b2i(consent)],
		noPhone:   s.x.Float64() < s.noise.MissingPhone,
		changed:   s.x.Float64() < s.noise.ChangedEmail,
	}
}

// email is the person's address with case and surrounding-space noise
// drawn from r; lower-casing and trimming undo it. other selects the
// person's second address: another number at one of the otherDomains,
// which no person's first address uses, so it never equals an address of
// anyone else.
func (s *side) email(r rng, pr *person, other bool) string {
	num, sep, dom := uint64(pr.emailNum%1_000_000_000), pr.emailNum%3, domains[pr.domain]
	if other {
		// Another odd multiplier, a second bijection on 32 bits, written
		// in full: second addresses are unique for 2^32 persons.
		n := pr.emailNum*2246822519 + 374761393
		num, sep = uint64(n), (sep+1+n%2)%3
		dom = otherDomains[n%uint32(len(otherDomains))]
	}
	b := s.emailB[:0]
	b = append(b, firstNames[pr.first]...)
	b = append(b, [...]string{".", "_", ""}[sep]...)
	b = append(b, lastNames[pr.last]...)
	b = strconv.AppendUint(b, num, 10)
	b = append(b, '@')
	b = append(b, dom...)
	switch k := r.IntN(10); {
	case k < 6:
	case k < 8: // Title.Case@Example.com
		up := true
		for i, c := range b {
			if up && c >= 'a' && c <= 'z' {
				b[i] = c - 32
			}
			up = c == '.' || c == '_' || c == '@'
		}
	case k < 9:
		for i, c := range b {
			if c >= 'a' && c <= 'z' {
				b[i] = c - 32
			}
		}
	default:
		for i, c := range b {
			if c >= 'a' && c <= 'z' && r.IntN(3) == 0 {
				b[i] = c - 32
			}
		}
	}
	s.emailB = b
	return pad(r, string(b))
}

func pad(r rng, v string) string {
	if r.IntN(100) >= 6 {
		return v
	}
	return [...]string{" ", "  ", "\t", ""}[r.IntN(4)] + v + [...]string{" ", "", "\t ", "  "}[r.IntN(4)]
}

// phoneDigits is the person's US number: 24 area codes × 792 exchanges ×
// 10000 lines, a bijection for the first 190 million persons.
func phoneDigits(p uint64) (area, exch, line string) {
	// An affine map with a multiplier coprime to the capacity
	// (2^10·3^3·5^4·11) scatters consecutive persons over the numbers.
	const capacity = 24 * 792 * 10000
	p = (p*104729 + 7777777) % capacity
	area = areaCodes[p%uint64(len(areaCodes))]
	rest := p / uint64(len(areaCodes))
	ex := exchange(rest % 792)
	l := ((rest/792)*7919 + 1234) % 10000
	lb := [4]byte{byte('0' + l/1000), byte('0' + l/100%10), byte('0' + l/10%10), byte('0' + l%10)}
	return area, strconv.FormatUint(ex, 10), string(lb[:])
}

// exchange maps 0..791 onto 200..999 without N11 codes (211, 311, ...).
func exchange(e uint64) uint64 {
	per := uint64(99) // each hundred has 99 usable exchanges
	h := e / per
	r := e % per
	v := 200 + h*100 + r
	if r >= 11 {
		v++
	}
	return v
}

// phone formats the number in one of the ways people write it; keeping the
// digits (and dropping a leading country code 1) undoes the noise.
func (s *side) phone(p uint64) string {
	a, e, l := phoneDigits(p)
	var v string
	switch s.r.IntN(8) {
	case 0:
		v = "(" + a + ") " + e + "-" + l
	case 1:
		v = a + "-" + e + "-" + l
	case 2:
		v = a + "." + e + "." + l
	case 3:
		v = a + e + l
	case 4:
		v = "+1 " + a + "-" + e + "-" + l
	case 5:
		v = "+1" + a + e + l
	case 6:
		v = a + " " + e + " " + l
	default:
		v = "+1 (" + a + ") " + e + "-" + l
	}
	return pad(s.r, v)
}
