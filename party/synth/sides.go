package synth

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// genRetailer writes the retailer's customers, persons [0, n), and their
// purchases when tx is not nil; counts receives the side's counts.
func genRetailer(ctx context.Context, w *world, l layout, noise Noise, out, tx sink, counts *SideCounts) error {
	stride := 5 + len(w.cats)
	txStride := len(transactionColumns)
	work := func() func(start, end uint64, c *chunk) {
		pr := newPerson(w)
		rp := newRNG()
		sd := newSide(&w.m, noise)
		idB := []byte("C")
		return func(start, end uint64, c *chunk) {
			c.fields = slices.Grow(c.fields, int(end-start)*stride)
			for p := start; p < end; p++ {
				w.person(rp, p, pr)
				w.fill(pr)
				sd.r.reset(w.seed, streamRetailer, p)
				cons := sd.consent()
				sd.x.reset(w.seed, streamRetailerRecord, p)
				rec := sd.record(cons)
				idB = appendID(idB[:1], p)
				id, email, phone := string(idB), sd.email(sd.r, pr, false), sd.phone(p)
				if rec.noPhone {
					phone = ""
				}
				c.side.note(cons, rec, false)
				c.fields = append(c.fields, field{s: id}, field{s: email}, field{s: phone}, field{i: b2i(cons)}, field{i: b2i(rec.marketing)})
				for _, v := range pr.cents {
					c.fields = append(c.fields, field{i: v})
				}
				if tx == nil {
					continue
				}
				for k, v := range pr.cents {
					if v == 0 {
						continue
					}
					// About three purchases a year at the median spend,
					// at most eight per category.
					ticket := int64(w.cats[k].Median * 100 / 2.5)
					n := min(1+min(7, v/max(ticket, 1)), v)
					rem := v
					for j := int64(0); j < n; j++ {
						part := rem
						if j < n-1 {
							share := float64(rem) / float64(n-j) * (0.5 + sd.r.Float64())
							part = max(1, min(rem-(n-1-j), int64(share)))
						}
						rem -= part
						c.tx = append(c.tx, field{s: id}, field{s: email}, field{s: phone}, field{i: b2i(cons)},
							field{i: b2i(rec.marketing)}, field{s: w.cats[k].Name}, field{i: part})
					}
				}
			}
		}
	}
	return pipeline(ctx, l.n, work, func(c *chunk) error {
		for k := 0; k < len(c.fields); k += stride {
			if err := out.row(c.fields[k : k+stride]); err != nil {
				return fmt.Errorf("synth: retailer: %w", err)
			}
		}
		for k := 0; k < len(c.tx); k += txStride {
			if err := tx.row(c.tx[k : k+txStride]); err != nil {
				return fmt.Errorf("synth: transactions: %w", err)
			}
		}
		counts.add(c.side)
		return nil
	})
}

// genInsurer writes the insurer's policies, one per person of
// [n-shared, 2n-shared) in a scrambled order, and hands acc the shared
// people: for each, the retailer's consent and record decisions are
// recomputed from the retailer's streams.
func genInsurer(ctx context.Context, w *world, l layout, noise Noise, out sink, acc *accumulator) error {
	nt := len(w.m.Claims)
	stride := 8 + nt
	work := func() func(start, end uint64, c *chunk) {
		pr := newPerson(w)
		rp := newRNG()
		sd := newSide(&w.m, noise)
		other := newSide(&w.m, noise)
		claims := make([]int, nt)
		idB := []byte("P")
		return func(start, end uint64, c *chunk) {
			c.fields = slices.Grow(c.fields, int(end-start)*stride)
			for i := start; i < end; i++ {
				p := l.insurerPerson(i)
				w.person(rp, p, pr)
				sd.r.reset(w.seed, streamInsurer, p)
				cons := sd.consent()
				sd.x.reset(w.seed, streamInsurerRecord, p)
				rec := sd.record(cons)
				idB = appendID(idB[:1], i)
				// The first address's noise is drawn even when the record
				// holds the second, so the columns after it keep their
				// values.
				email, phone := sd.email(sd.r, pr, false), sd.phone(p)
				if rec.changed {
					email = sd.email(sd.x, pr, true)
				}
				if rec.noPhone {
					phone = ""
				}
				c.side.note(cons, rec, true)
				c.fields = append(c.fields, field{s: string(idB)}, field{s: email}, field{s: phone},
					field{i: b2i(cons)}, field{i: b2i(rec.marketing)},
					field{s: w.m.AgeBands[pr.band]}, field{s: PregnantLevels[b2i(pr.pregnant)]})
				exposure := 12
				if sd.r.Float64() >= w.m.FullYear {
					exposure = 1 + sd.r.IntN(11)
				}
				c.fields = append(c.fields, field{i: int64(exposure)})
				w.claims(sd.r, pr, exposure, claims)
				for _, v := range claims {
					c.fields = append(c.fields, field{i: int64(v)})
				}
				if p >= l.n {
					continue
				}
				other.r.reset(w.seed, streamRetailer, p)
				rcons := other.consent()
				other.x.reset(w.seed, streamRetailerRecord, p)
				rrec := other.record(rcons)
				emailAgrees, phoneAgrees := !rec.changed, !rec.noPhone && !rrec.noPhone
				c.counts.shared++
				if rec.marketing && rrec.marketing {
					c.counts.marketing.add(emailAgrees, phoneAgrees)
				}
				if !cons || !rcons {
					continue
				}
				c.counts.research.add(emailAgrees, phoneAgrees)
				if !matches(acc.rule, emailAgrees, phoneAgrees) {
					continue
				}
				w.fill(pr)
				c.accCents = append(c.accCents, pr.cents...)
				c.accClaim = append(c.accClaim, claims...)
				c.accExp = append(c.accExp, exposure)
				c.accBand = append(c.accBand, uint8(pr.band))
				c.accPreg = append(c.accPreg, pr.pregnant)
			}
		}
	}
	nc := len(w.cats)
	return pipeline(ctx, l.n, work, func(c *chunk) error {
		for k := 0; k < len(c.fields); k += stride {
			if err := out.row(c.fields[k : k+stride]); err != nil {
				return fmt.Errorf("synth: insurer: %w", err)
			}
		}
		acc.insurer.add(c.side)
		acc.counts.add(c.counts)
		for k, e := range c.accExp {
			acc.add(c.accCents[k*nc:(k+1)*nc], e, c.accClaim[k*nt:(k+1)*nt], c.accBand[k], c.accPreg[k])
		}
		return nil
	})
}

func appendID(b []byte, v uint64) []byte {
	s := strconv.FormatUint(v, 10)
	return append(append(b, strings.Repeat("0", max(0, 10-len(s)))...), s...)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
