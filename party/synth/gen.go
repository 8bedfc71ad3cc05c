package synth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Formats jointly gen writes.
const (
	FormatCSV     = "csv"
	FormatSQLite  = "sqlite"
	FormatParquet = "parquet"
)

// MaxCustomers bounds Options.Customers so that every person gets a unique
// e-mail address and phone number.
const MaxCustomers = 50_000_000

// ErrOptions is returned for invalid generator options.
var ErrOptions = errors.New("synth: invalid options")

// Options configure one run of the generator.
type Options struct {
	// Dir receives retailer.<ext>, insurer.<ext> and truth.json.
	Dir string
	// Customers is the number of records on each side (default 100000).
	Customers int
	// Overlap is the fraction of each side's records that belong to
	// people on both sides (default 0.5).
	Overlap float64
	// Seed makes the output reproducible: the same options give the same
	// bytes.
	Seed uint64
	// Format is csv (default), sqlite or parquet.
	Format string
	// Transactions also writes the retailer's raw purchases, whose sums
	// per customer and category are the spend columns.
	Transactions bool
	// Model is the generative model; zero means DefaultModel().
	Model *Model
}

// DefaultOptions are the options of `jointly gen` without flags.
func DefaultOptions() Options {
	return Options{Dir: "demo-out", Customers: 100_000, Overlap: 0.5, Seed: 1, Format: FormatCSV}
}

// Validate fills defaults and rejects bad values naming the option.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return fmt.Errorf("%w: out: required", ErrOptions)
	}
	if o.Customers == 0 {
		o.Customers = 100_000
	}
	if o.Customers < 1 || o.Customers > MaxCustomers {
		return fmt.Errorf("%w: customers: must be between 1 and %d", ErrOptions, MaxCustomers)
	}
	if math.IsNaN(o.Overlap) || o.Overlap < 0 || o.Overlap > 1 {
		return fmt.Errorf("%w: overlap: must be within [0, 1]", ErrOptions)
	}
	if o.Format == "" {
		o.Format = FormatCSV
	}
	switch o.Format {
	case FormatCSV, FormatSQLite, FormatParquet:
	default:
		return fmt.Errorf("%w: format: %q is not csv, sqlite or parquet", ErrOptions, o.Format)
	}
	return nil
}

// Column layouts.
func retailerColumns(m *Model) []colSpec {
	cols := []colSpec{{"customer_id", fText}, {"email", fText}, {"phone", fText}, {"consent", fBool}}
	for _, c := range m.Spend {
		cols = append(cols, colSpec{"spend_" + c.Name, fMoney})
	}
	return cols
}

var transactionColumns = []colSpec{{"customer_id", fText}, {"email", fText}, {"phone", fText},
	{"consent", fBool}, {"category", fText}, {"amount", fMoney}}

func insurerColumns(m *Model) []colSpec {
	cols := []colSpec{{"policy_id", fText}, {"email", fText}, {"phone", fText}, {"consent", fBool},
		{"age_band", fText}, {"exposure_months", fInt}}
	for _, c := range m.Claims {
		cols = append(cols, colSpec{"claims_" + c.Name, fInt})
	}
	return cols
}

// layout places the two sides in one population of persons: the retailer
// holds persons [0, n), the insurer persons [n-shared, 2n-shared), listed
// in a scrambled order (an affine bijection mod n) so the shared people are
// not simply the first rows.
type layout struct {
	n, shared uint64
	mul, add  uint64
}

func newLayout(n int, overlap float64, seed uint64) layout {
	l := layout{n: uint64(n), shared: uint64(math.Round(overlap * float64(n)))}
	l.mul = splitmix(seed^0x5eed)%l.n | 1
	for gcd(l.mul, l.n) != 1 {
		l.mul += 2
	}
	l.mul %= l.n
	if l.n == 1 {
		l.mul = 0
	}
	l.add = splitmix(seed^0xadd) % l.n
	return l
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// insurerPerson is the person behind policy i.
func (l layout) insurerPerson(i uint64) uint64 {
	hi, lo := bits.Mul64(l.mul, i)
	_, r := bits.Div64(hi, lo, l.n)
	return l.n - l.shared + (r+l.add)%l.n
}

// Generate writes the world described by opts and returns its truth. Files
// are written under temporary names and renamed into place only when all
// of them are complete.
func Generate(ctx context.Context, opts Options) (*Truth, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m := DefaultModel()
	if opts.Model != nil {
		m = *opts.Model
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	w := newWorld(m, opts.Seed)
	l := newLayout(opts.Customers, opts.Overlap, opts.Seed)
	st := &staging{dir: opts.Dir}
	ok := false
	defer func() {
		if !ok {
			st.abort()
		}
	}()

	var (
		retail, tx, insure sink
		closers            []func() error
	)
	switch opts.Format {
	case FormatCSV, FormatParquet:
		open := func(name string, cols []colSpec) (sink, error) {
			if opts.Format == FormatCSV {
				return newCSV(st, name+".csv", cols)
			}
			return newParquet(st, name+".parquet", cols)
		}
		var err error
		if retail, err = open("retailer", retailerColumns(&m)); err != nil {
			return nil, err
		}
		closers = append(closers, retail.close)
		if opts.Transactions {
			if tx, err = open("retailer_transactions", transactionColumns); err != nil {
				return nil, err
			}
			closers = append(closers, tx.close)
		}
		if insure, err = open("insurer", insurerColumns(&m)); err != nil {
			return nil, err
		}
		closers = append(closers, insure.close)
	case FormatSQLite:
		rdb, err := newSQLite(st, "retailer.sqlite")
		if err != nil {
			return nil, err
		}
		closers = append(closers, rdb.close)
		if retail, err = rdb.table("customers", retailerColumns(&m)); err != nil {
			rdb.close()
			return nil, err
		}
		if opts.Transactions {
			if tx, err = rdb.table("transactions", transactionColumns); err != nil {
				rdb.close()
				return nil, err
			}
		}
		idb, err := newSQLite(st, "insurer.sqlite")
		if err != nil {
			rdb.close()
			return nil, err
		}
		closers = append(closers, idb.close)
		if insure, err = idb.table("policies", insurerColumns(&m)); err != nil {
			rdb.close()
			idb.close()
			return nil, err
		}
		// Table sinks flush before their database commits.
		closers = append([]func() error{retail.close, insure.close}, closers...)
		if tx != nil {
			closers = append([]func() error{tx.close}, closers...)
		}
	}
	acc := newAccumulator(&m)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return genRetailer(gctx, w, l, retail, tx) })
	g.Go(func() error { return genInsurer(gctx, w, l, insure, acc) })
	err := g.Wait()
	for _, c := range closers {
		if cerr := c(); cerr != nil && err == nil {
			err = fmt.Errorf("synth: finish output: %w", cerr)
		}
	}
	if err != nil {
		return nil, err
	}
	truth := acc.truth(&m, opts, l)
	if err := writeTruth(st, truth); err != nil {
		return nil, err
	}
	if err := st.commit(); err != nil {
		return nil, err
	}
	ok = true
	return truth, nil
}

// side draws the parts of a record that belong to one data owner: consent
// and the formatting noise of its identifiers. The first draw is consent,
// so the insurer can recompute a shared person's retailer consent.
type side struct {
	r      rng
	optOut float64
	emailB []byte
}

func (s *side) consent() bool { return s.r.Float64() >= s.optOut }

// email is the person's address with case and surrounding-space noise;
// lower-casing and trimming undo it.
func (s *side) email(pr *person) string {
	b := s.emailB[:0]
	b = append(b, firstNames[pr.first]...)
	b = append(b, [...]string{".", "_", ""}[pr.emailNum%3]...)
	b = append(b, lastNames[pr.last]...)
	b = strconv.AppendUint(b, uint64(pr.emailNum%1_000_000_000), 10)
	b = append(b, '@')
	b = append(b, domains[pr.domain]...)
	switch k := s.r.IntN(10); {
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
			if c >= 'a' && c <= 'z' && s.r.IntN(3) == 0 {
				b[i] = c - 32
			}
		}
	}
	s.emailB = b
	return s.pad(string(b))
}

func (s *side) pad(v string) string {
	if s.r.IntN(100) >= 6 {
		return v
	}
	return [...]string{" ", "  ", "\t", ""}[s.r.IntN(4)] + v + [...]string{" ", "", "\t ", "  "}[s.r.IntN(4)]
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
	return s.pad(v)
}

// chunkSize persons are generated together by one worker.
const chunkSize = 2048

// chunk is the output of one worker for persons [start, start+n): rows of
// fields laid out flat, and for the insurer what the truth needs.
type chunk struct {
	fields []field
	tx     []field
	// Insurer: the shared, consenting people in this chunk.
	shared   int
	accCents []int64
	accClaim []int
	accExp   []int
}

// pipeline generates chunks on GOMAXPROCS workers and hands them to
// consume in order, so output stays deterministic while generation uses
// every core. At most 2×workers chunks are in flight: memory is bounded.
func pipeline(ctx context.Context, n uint64, work func() func(start, end uint64, c *chunk), consume func(*chunk) error) error {
	workers := runtime.GOMAXPROCS(0)
	g, ctx := errgroup.WithContext(ctx)
	type job struct {
		start, end uint64
		done       chan *chunk
	}
	jobs := make(chan job)
	order := make(chan chan *chunk, 2*workers)
	g.Go(func() error {
		defer close(jobs)
		defer close(order)
		for s := uint64(0); s < n; s += chunkSize {
			j := job{start: s, end: min(s+chunkSize, n), done: make(chan *chunk, 1)}
			select {
			case order <- j.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	// Consumed chunks go back to the workers: their buffers are reused
	// rather than left to the garbage collector (sinks copy what they keep;
	// strings are immutable).
	free := make(chan *chunk, 3*workers)
	for i := 0; i < workers; i++ {
		g.Go(func() error {
			gen := work()
			for j := range jobs {
				var c *chunk
				select {
				case c = <-free:
					c.fields, c.tx, c.shared = c.fields[:0], c.tx[:0], 0
					c.accCents, c.accClaim, c.accExp = c.accCents[:0], c.accClaim[:0], c.accExp[:0]
				default:
					c = &chunk{}
				}
				gen(j.start, j.end, c)
				j.done <- c
			}
			return nil
		})
	}
	g.Go(func() error {
		for done := range order {
			var c *chunk
			select {
			case c = <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := consume(c); err != nil {
				return err
			}
			select {
			case free <- c:
			default:
			}
		}
		return ctx.Err()
	})
	return g.Wait()
}

func genRetailer(ctx context.Context, w *world, l layout, out, tx sink) error {
	stride := 4 + len(w.m.Spend)
	txStride := len(transactionColumns)
	work := func() func(start, end uint64, c *chunk) {
		pr := newPerson(&w.m)
		rp := newRNG()
		sd := &side{r: newRNG(), optOut: w.m.OptOut}
		idB := []byte("C")
		return func(start, end uint64, c *chunk) {
			c.fields = slices.Grow(c.fields, int(end-start)*stride)
			for p := start; p < end; p++ {
				w.person(rp, p, pr)
				w.fill(pr)
				sd.r.reset(w.seed, streamRetailer, p)
				cons := sd.consent()
				idB = appendID(idB[:1], p)
				id, email, phone := string(idB), sd.email(pr), sd.phone(p)
				c.fields = append(c.fields, field{s: id}, field{s: email}, field{s: phone}, field{i: b2i(cons)})
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
					ticket := int64(w.m.Spend[k].Median * 100 / 2.5)
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
							field{s: w.m.Spend[k].Name}, field{i: part})
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
		return nil
	})
}

func genInsurer(ctx context.Context, w *world, l layout, out sink, acc *accumulator) error {
	nc, nt := len(w.m.Spend), len(w.m.Claims)
	stride := 6 + nt
	work := func() func(start, end uint64, c *chunk) {
		pr := newPerson(&w.m)
		rp := newRNG()
		sd := &side{r: newRNG(), optOut: w.m.OptOut}
		other := &side{r: newRNG(), optOut: w.m.OptOut}
		claims := make([]int, nt)
		idB := []byte("P")
		return func(start, end uint64, c *chunk) {
			c.fields = slices.Grow(c.fields, int(end-start)*stride)
			for i := start; i < end; i++ {
				p := l.insurerPerson(i)
				w.person(rp, p, pr)
				sd.r.reset(w.seed, streamInsurer, p)
				cons := sd.consent()
				idB = appendID(idB[:1], i)
				c.fields = append(c.fields, field{s: string(idB)}, field{s: sd.email(pr)}, field{s: sd.phone(p)},
					field{i: b2i(cons)}, field{s: w.m.AgeBands[pr.band]})
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
				c.shared++
				other.r.reset(w.seed, streamRetailer, p)
				if cons && other.consent() {
					w.fill(pr)
					c.accCents = append(c.accCents, pr.cents...)
					c.accClaim = append(c.accClaim, claims...)
					c.accExp = append(c.accExp, exposure)
				}
			}
		}
	}
	return pipeline(ctx, l.n, work, func(c *chunk) error {
		for k := 0; k < len(c.fields); k += stride {
			if err := out.row(c.fields[k : k+stride]); err != nil {
				return fmt.Errorf("synth: insurer: %w", err)
			}
		}
		acc.shared += c.shared
		for k, e := range c.accExp {
			acc.add(c.accCents[k*nc:(k+1)*nc], e, c.accClaim[k*nt:(k+1)*nt])
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
