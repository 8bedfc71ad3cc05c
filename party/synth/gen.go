package synth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"

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
	// Noise is the identifier noise between the two sides; zero means
	// none: every shared person's e-mail and phone agree on both sides.
	// DefaultOptions sets DefaultNoise.
	Noise Noise
	// StatisticsOver is the match rule whose pairs truth.json's
	// statistics are taken over: MatchEmail (default; what a node
	// matching on e-mail finds), MatchPhone or MatchEmailOrPhone.
	StatisticsOver string
}

// Noise is the identifier noise between the two organizations' records of
// one person, beyond the formatting noise normalization undoes. Each is a
// share of records, drawn per record from the side's record stream, so the
// other columns keep their values whatever the noise.
type Noise struct {
	// ChangedEmail is the share of the insurer's records that carry
	// another e-mail address of the person than the retailer has.
	ChangedEmail float64 `json:"changed_email"`
	// MissingPhone is the share of each side's records without a phone
	// number, drawn independently on each side.
	MissingPhone float64 `json:"missing_phone"`
}

// DefaultNoise is the identifier noise of `jointly gen` without flags.
func DefaultNoise() Noise { return Noise{ChangedEmail: 0.15, MissingPhone: 0.10} }

// Match rules truth.json counts pairs under, following the multi-key rule
// (crypto/match): key kinds in priority order, greedy one-to-one. Every
// person's identifiers are unique, so a rule pairs exactly the shared
// people whose keys of one of its kinds are present on both sides and
// agree.
const (
	MatchEmail        = "email"
	MatchPhone        = "phone"
	MatchEmailOrPhone = "email_or_phone"
)

// MatchKinds are the identifier kinds a match rule matches on, in
// priority order: a node's join_keys for it.
func MatchKinds(rule string) []string {
	switch rule {
	case MatchPhone:
		return []string{"phone"}
	case MatchEmailOrPhone:
		return []string{"email", "phone"}
	}
	return []string{"email"}
}

// DefaultOptions are the options of `jointly gen` without flags.
func DefaultOptions() Options {
	return Options{Dir: "demo-out", Customers: 100_000, Overlap: 0.5, Seed: 1, Format: FormatCSV,
		Noise: DefaultNoise(), StatisticsOver: MatchEmail}
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
	for _, c := range []struct {
		name string
		v    float64
	}{{"changed-email", o.Noise.ChangedEmail}, {"missing-phone", o.Noise.MissingPhone}} {
		if math.IsNaN(c.v) || c.v < 0 || c.v > 1 {
			return fmt.Errorf("%w: %s: must be within [0, 1]", ErrOptions, c.name)
		}
	}
	if o.StatisticsOver == "" {
		o.StatisticsOver = MatchEmail
	}
	switch o.StatisticsOver {
	case MatchEmail, MatchPhone, MatchEmailOrPhone:
	default:
		return fmt.Errorf("%w: statistics-over: %q is not %s, %s or %s", ErrOptions, o.StatisticsOver, MatchEmail, MatchPhone, MatchEmailOrPhone)
	}
	return nil
}

// Column layouts.
func retailerColumns(m *Model) []colSpec {
	cols := []colSpec{{"customer_id", fText}, {"email", fText}, {"phone", fText}, {"consent", fBool}, {"consent_marketing", fBool}}
	for _, c := range m.Categories() {
		cols = append(cols, colSpec{"spend_" + c.Name, fMoney})
	}
	return cols
}

var transactionColumns = []colSpec{{"customer_id", fText}, {"email", fText}, {"phone", fText},
	{"consent", fBool}, {"consent_marketing", fBool}, {"category", fText}, {"amount", fMoney}}

func insurerColumns(m *Model) []colSpec {
	cols := []colSpec{{"policy_id", fText}, {"email", fText}, {"phone", fText}, {"consent", fBool}, {"consent_marketing", fBool},
		{"age_band", fText}, {"pregnant", fText}, {"exposure_months", fInt}}
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
	acc := newAccumulator(w, opts.StatisticsOver)
	var retailCounts SideCounts
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return genRetailer(gctx, w, l, opts.Noise, retail, tx, &retailCounts) })
	g.Go(func() error { return genInsurer(gctx, w, l, opts.Noise, insure, acc) })
	err := g.Wait()
	for _, c := range closers {
		if cerr := c(); cerr != nil && err == nil {
			err = fmt.Errorf("synth: finish output: %w", cerr)
		}
	}
	if err != nil {
		return nil, err
	}
	truth := acc.truth(opts, retailCounts)
	if err := writeTruth(st, truth); err != nil {
		return nil, err
	}
	if err := st.commit(); err != nil {
		return nil, err
	}
	ok = true
	return truth, nil
}

// chunkSize persons are generated together by one worker.
const chunkSize = 2048

// chunk is the output of one worker for persons [start, start+n): rows of
// fields laid out flat, the counts of its records and, for the insurer,
// what the truth needs.
type chunk struct {
	fields []field
	tx     []field
	side   SideCounts
	// Insurer: the match counts of the shared people in this chunk, and
	// the values of those the statistics are over.
	counts   matchTally
	accCents []int64
	accClaim []int
	accExp   []int
	accBand  []uint8
	accPreg  []bool
}

func (c *chunk) reset() {
	c.fields, c.tx = c.fields[:0], c.tx[:0]
	c.side, c.counts = SideCounts{}, matchTally{}
	c.accCents, c.accClaim, c.accExp = c.accCents[:0], c.accClaim[:0], c.accExp[:0]
	c.accBand, c.accPreg = c.accBand[:0], c.accPreg[:0]
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
					c.reset()
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
