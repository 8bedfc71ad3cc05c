package upload

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"golang.org/x/sync/errgroup"
)

// digitSpec is one (multiplier, digit) the evaluator encodes per block.
type digitSpec struct {
	mult  int
	shift uint
	mask  uint64
	level int
}

// Evaluator is the evaluating node's side of one session: it turns upload
// blocks into ciphertexts under the collective key, multiplies them by its
// own plaintext multipliers, and finalizes one ciphertext per product.
// Work is spread over Accumulators, one per goroutine.
type Evaluator struct {
	plan      *Plan
	ringQ     *ring.Ring
	sk        *rlwe.SecretKey
	cpk       *rlwe.PublicKey
	evk       rlwe.EvaluationKeySet
	crp       crpSource
	guard     *blockGuard
	rns       rnsConsts
	ntt       []nttTable
	mults     [][]int64
	unionSize int
	blocks    int
	digits    []digitSpec
	// prodDigit maps a product to its digitSpec; colProds lists the
	// products of each column.
	prodDigit []int
	colProds  [][]int
}

// NewEvaluator returns the evaluator of one session. sk is this node's
// secret key share, cpk the collective public key (for re-randomization),
// evk must hold the Galois keys of rlwe.GaloisElementsForTrace(params, 0),
// seed is the session seed the uploader uses, and multipliers are this
// node's plaintext columns in the order of Circuit.Multipliers, laid out in
// union order (all of the same length, the union size). The evaluator keeps
// the multiplier slices; they must not change during the session.
func NewEvaluator(plan *Plan, sk *rlwe.SecretKey, cpk *rlwe.PublicKey, evk rlwe.EvaluationKeySet, seed []byte, multipliers [][]int64) (*Evaluator, error) {
	params := plan.params
	if err := checkSecret(params, sk); err != nil {
		return nil, err
	}
	if cpk == nil || cpk.Value[0].Q.N() != params.N() {
		return nil, fmt.Errorf("%w: collective public key does not match the parameters", ErrInvalidKey)
	}
	if evk == nil {
		return nil, fmt.Errorf("%w: no evaluation keys", ErrInvalidKey)
	}
	for _, g := range rlwe.GaloisElementsForTrace(params, 0) {
		if _, err := evk.GetGaloisKey(g); err != nil {
			return nil, fmt.Errorf("%w: missing Galois key %d for the trace", ErrInvalidKey, g)
		}
	}
	crp, err := newCRPSource(seed)
	if err != nil {
		return nil, err
	}
	c := plan.circuit
	if len(multipliers) != len(c.Multipliers) {
		return nil, fmt.Errorf("%w: %d multiplier columns for %d declared", ErrInvalidLayout, len(multipliers), len(c.Multipliers))
	}
	u := len(multipliers[0])
	if u < 1 || u > plan.cfg.MaxRecords {
		return nil, fmt.Errorf("%w: union of %d records, bound %d", ErrInvalidLayout, u, plan.cfg.MaxRecords)
	}
	for m, col := range multipliers {
		if len(col) != u {
			return nil, fmt.Errorf("%w: multiplier %q has %d rows, want %d", ErrInvalidLayout, c.Multipliers[m].Name, len(col), u)
		}
		for _, v := range col {
			if v < 0 || v > c.Multipliers[m].Max {
				return nil, fmt.Errorf("%w: multiplier %q", ErrOutOfBounds, c.Multipliers[m].Name)
			}
		}
	}
	ev := &Evaluator{
		plan: plan, ringQ: params.RingQ(), sk: sk, cpk: cpk, evk: evk, crp: crp,
		guard: newBlockGuard(), rns: newRNSConsts(params), mults: multipliers,
		unionSize: u, blocks: plan.Blocks(u), colProds: make([][]int, len(c.Columns)),
	}
	for _, s := range ev.ringQ.SubRings {
		// Lazy NTT outputs below 4q feed Montgomery products, which need 4q < 2^64.
		if s.Modulus >= 1<<62 {
			return nil, fmt.Errorf("%w: modulus above 2^62", ErrInvalidConfig)
		}
		ev.ntt = append(ev.ntt, newNTTTable(s))
	}
	index := map[[2]int]int{}
	for pi, pr := range plan.products {
		key := [2]int{pr.Multiplier, pr.Digit}
		di, ok := index[key]
		if !ok {
			di = len(ev.digits)
			index[key] = di
			mask := ^uint64(0)
			shift := pr.MultiplierShift()
			if pr.Max != c.Multipliers[pr.Multiplier].Max>>shift {
				mask = uint64(1)<<plan.cfg.SplitBits - 1
			}
			ev.digits = append(ev.digits, digitSpec{mult: pr.Multiplier, shift: uint(shift), mask: mask})
		}
		ev.digits[di].level = max(ev.digits[di].level, plan.cols[pr.Column].Level)
		ev.prodDigit = append(ev.prodDigit, di)
		ev.colProds[pr.Column] = append(ev.colProds[pr.Column], pi)
	}
	return ev, nil
}

// UnionSize returns the number of records of the union.
func (ev *Evaluator) UnionSize() int { return ev.unionSize }

// Accumulator holds one goroutine's running sums Σ_j x'_j·ct_j per product
// and its private buffers. It is not safe for concurrent use.
type Accumulator struct {
	ev    *Evaluator
	xe    *cbdSampler
	a, c0 ring.Poly
	br    bitReader
	acc   [][2]ring.Poly
	// per digitSpec: the encoded multiplier (NTT, Montgomery) and the block
	// it holds (-1 when none), so j-major block order encodes each once.
	xpoly []ring.Poly
	xat   []int
}

// NewAccumulator returns an empty accumulator with its own error sampler
// keyed from crypto/rand.
func (ev *Evaluator) NewAccumulator() (*Accumulator, error) {
	xe, err := newCBDSampler(errorSigma(ev.plan.params))
	if err != nil {
		return nil, fmt.Errorf("evaluator: %w", err)
	}
	a := &Accumulator{ev: ev, xe: xe, a: ev.ringQ.NewPoly(), c0: ev.ringQ.NewPoly()}
	for _, pr := range ev.plan.products {
		l := ev.plan.cols[pr.Column].Level
		a.acc = append(a.acc, [2]ring.Poly{ev.ringQ.AtLevel(l).NewPoly(), ev.ringQ.AtLevel(l).NewPoly()})
	}
	for _, d := range ev.digits {
		a.xpoly = append(a.xpoly, ev.ringQ.AtLevel(d.level).NewPoly())
		a.xat = append(a.xat, -1)
	}
	return a, nil
}

// Add evaluates one upload block: it decodes h, adds −a_j·s_ev + e_ev to
// obtain ct_j = (h + h', a_j), an encryption of Δ·m_j under the collective
// key, and accumulates x'_j·ct_j for every product of the block's column.
// A block is accepted once per session, across all accumulators.
func (a *Accumulator) Add(b *Block) error {
	ev := a.ev
	p := ev.plan
	if b == nil {
		return fmt.Errorf("%w: nil block", ErrMalformedBlock)
	}
	if err := b.validateHeader(); err != nil {
		return err
	}
	if b.Column >= len(p.cols) || b.Index >= ev.blocks {
		return fmt.Errorf("%w: column %d block %d outside the session", ErrMalformedBlock, b.Column, b.Index)
	}
	cp := p.cols[b.Column]
	if b.LogN != p.params.LogN() || b.Level != cp.Level || b.LowBits != cp.LowBits || b.WireBits != cp.WireBits {
		return fmt.Errorf("%w: column %d block %d was encoded under another plan", ErrMalformedBlock, b.Column, b.Index)
	}
	r := ev.ringQ.AtLevel(cp.Level)
	c0, crp := atLevel(a.c0, cp.Level), atLevel(a.a, cp.Level)
	if err := a.unpack(cp, b.Payload, c0); err != nil {
		return fmt.Errorf("column %d block %d: %w", b.Column, b.Index, err)
	}
	if err := ev.guard.claim(b.Column, b.Index); err != nil {
		return err
	}
	for k := range c0.Coeffs {
		ev.ntt[k].forwardLazy(c0.Coeffs[k])
	}
	if err := ev.crp.read(ev.rns.q, b.Column, b.Index, crp); err != nil {
		return err
	}
	// c0 holds h + e_ev; the evaluator's −a_j·s_ev is applied once per
	// product at Finalize, as −s_ev·Σ_j x'_j·a_j (the second accumulator).
	for _, pi := range ev.colProds[b.Column] {
		x := atLevel(a.multiplier(ev.prodDigit[pi], b.Index), cp.Level)
		r.MulCoeffsMontgomeryThenAdd(c0, x, a.acc[pi][0])
		r.MulCoeffsMontgomeryThenAdd(crp, x, a.acc[pi][1])
	}
	return nil
}

// unpack decodes a payload into the coefficient-domain polynomial h and
// adds the evaluator's fresh error e_ev, rejecting residues that are not
// reduced and non-zero padding.
func (a *Accumulator) unpack(cp ColumnPlan, payload []byte, h ring.Poly) error {
	c := a.ev.rns
	q0, low := c.q[0], uint(cp.LowBits)
	xe := a.xe
	emask := uint64(1)<<xe.eta - 1
	a.br.reset(payload)
	for i := range h.Coeffs[0] {
		r0 := a.br.read(low)
		if cp.Lossless {
			if r0 >= q0 {
				return fmt.Errorf("%w: residue not reduced", ErrMalformedBlock)
			}
		} else {
			r0 = decompressLow(r0, q0, low)
		}
		w := xe.ks.uint64()
		e := uint64(int64(bits.OnesCount64(w&emask) - bits.OnesCount64((w>>xe.eta)&emask)))
		h.Coeffs[0][i] = addSmall(r0, e, q0)
		for k := 1; k <= cp.Level; k++ {
			qk := c.q[k]
			t := a.br.read(c.width[k])
			if t >= qk {
				return fmt.Errorf("%w: residue not reduced", ErrMalformedBlock)
			}
			v := ring.BRedAdd(r0, qk, c.bred[k]) + ring.MRed(t, c.q0Mod[k], qk, c.mred[k])
			if v >= qk {
				v -= qk
			}
			h.Coeffs[k][i] = addSmall(v, e, qk)
		}
	}
	if a.br.rest() {
		return fmt.Errorf("%w: non-zero padding", ErrMalformedBlock)
	}
	return nil
}

// multiplier returns digit d of the evaluator's multiplier for block j as
// x'(X) = x_0 − Σ_{i>=1} x_i·X^(N−i), NTT and Montgomery form, so that the
// constant coefficient of x'(X)·m(X) is Σ_i x_i·m_i.
func (a *Accumulator) multiplier(d, j int) ring.Poly {
	if a.xat[d] == j {
		return a.xpoly[d]
	}
	ev := a.ev
	spec := ev.digits[d]
	n := ev.plan.params.N()
	src := ev.mults[spec.mult][j*n : min((j+1)*n, ev.unionSize)]
	x := a.xpoly[d]
	for k := 0; k <= spec.level; k++ {
		qk := ev.rns.q[k]
		cf := x.Coeffs[k]
		clear(cf)
		for i, v := range src {
			dv := (uint64(v) >> spec.shift) & spec.mask
			if dv == 0 {
				continue
			}
			if i == 0 {
				cf[0] = dv
			} else {
				cf[n-i] = qk - dv
			}
		}
	}
	for k := 0; k <= spec.level; k++ {
		ev.ntt[k].forwardMont(x.Coeffs[k])
	}
	a.xat[d] = j
	return x
}

// Sums is a session's accumulated products before the Trace: per product,
// Σ_j x'_j·ct_j with the evaluator's key term applied, so that the constant
// coefficient holds Δ·Σ_i x_i·m_i and the others hold cross terms x_i·m_k,
// i ≠ k, that must never reach the querier. Finalize traces each product on
// its own; Pack traces many into one ciphertext for a fraction of the cost.
type Sums struct {
	ev   *Evaluator
	sums []*rlwe.Ciphertext
}

// Sum checks that every block of every column was evaluated and adds the
// accumulators up. It consumes them: the sums are kept in the first one.
func (ev *Evaluator) Sum(accs ...*Accumulator) (*Sums, error) {
	if len(accs) == 0 {
		return nil, fmt.Errorf("%w: no accumulators", ErrMissingBlock)
	}
	for _, a := range accs {
		if a == nil || a.ev != ev {
			return nil, fmt.Errorf("%w: accumulator of another evaluator", ErrInvalidCircuit)
		}
		if a.acc == nil {
			return nil, fmt.Errorf("%w: accumulator already summed", ErrInvalidCircuit)
		}
	}
	for col := range ev.plan.cols {
		for j := 0; j < ev.blocks; j++ {
			if !ev.guard.has(col, j) {
				return nil, fmt.Errorf("%w: column %d block %d of %d", ErrMissingBlock, col, j, ev.blocks)
			}
		}
	}
	s := &Sums{ev: ev, sums: make([]*rlwe.Ciphertext, len(ev.plan.products))}
	for i := range s.sums {
		cp := ev.plan.cols[ev.plan.products[i].Column]
		r := ev.ringQ.AtLevel(cp.Level)
		ct := rlwe.NewCiphertext(ev.plan.params, 1, cp.Level)
		ct.Value[0], ct.Value[1] = accs[0].acc[i][0], accs[0].acc[i][1]
		for _, a := range accs[1:] {
			r.Add(ct.Value[0], a.acc[i][0], ct.Value[0])
			r.Add(ct.Value[1], a.acc[i][1], ct.Value[1])
		}
		// The evaluator's share of every block at once: Σ_j x'_j·(−a_j·s_ev).
		r.MulCoeffsMontgomeryThenSub(ct.Value[1], ev.sk.Value.Q, ct.Value[0])
		ct.IsNTT = true
		ct.Scale = rlwe.NewScale(math.Exp2(float64(cp.LogDelta)))
		s.sums[i] = ct
	}
	for _, a := range accs {
		a.acc = nil // consumed
	}
	return s, nil
}

// Finalize checks that every block of every column was evaluated, sums the
// accumulators (consuming them), and returns one ciphertext per product (in
// Plan.Products order): the Trace of the sum, which leaves Δ·Σ x_i·m_i in
// the constant coefficient and zeros elsewhere, re-randomized with a fresh
// encryption of zero under the evaluator's public key so that its c1 is no
// longer a public function of the multipliers.
func (ev *Evaluator) Finalize(ctx context.Context, accs ...*Accumulator) ([]*rlwe.Ciphertext, error) {
	s, err := ev.Sum(accs...)
	if err != nil {
		return nil, err
	}
	return s.Finalize(ctx)
}

// Finalize traces and re-randomizes every product on its own (see
// Evaluator.Finalize). Each call re-randomizes afresh.
func (s *Sums) Finalize(ctx context.Context) ([]*rlwe.Ciphertext, error) {
	out := make([]*rlwe.Ciphertext, len(s.sums))
	err := s.parallel(ctx, len(out), func(i int, eval *rlwe.Evaluator, enc *rlwe.Encryptor) error {
		ct, err := s.trace(i, eval)
		if err == nil {
			err = crypto.Rerandomize(s.ev.plan.params, enc, ct)
		}
		if err != nil {
			return fmt.Errorf("product %d: %w", i, err)
		}
		out[i] = ct
		return nil
	})
	return out, err
}

// trace returns the Trace of product i's sum.
func (s *Sums) trace(i int, eval *rlwe.Evaluator) (*rlwe.Ciphertext, error) {
	ct := rlwe.NewCiphertext(s.ev.plan.params, 1, s.sums[i].Level())
	if err := eval.Trace(s.sums[i], 0, ct); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	return ct, nil
}

// parallel runs job(0..n-1) on GOMAXPROCS goroutines, each with its own
// evaluator (Galois keys) and encryptor (the re-randomization key).
func (s *Sums) parallel(ctx context.Context, n int, job func(i int, eval *rlwe.Evaluator, enc *rlwe.Encryptor) error) error {
	g, ctx := errgroup.WithContext(ctx)
	next := feed(ctx, g, n)
	params := s.ev.plan.params
	base := rlwe.NewEvaluator(params, s.ev.evk)
	baseEnc := rlwe.NewEncryptor(params, s.ev.cpk)
	workers := max(1, min(runtime.GOMAXPROCS(0), n))
	for w := 0; w < workers; w++ {
		eval, enc := base.ShallowCopy(), baseEnc.ShallowCopy()
		g.Go(func() error {
			for i := range next {
				if err := job(i, eval, enc); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// feed sends 0..n-1 on the channel it returns, from a goroutine of g that
// closes it after the last or when ctx is done: the work queue of the
// workers of parallel and Upload.
func feed(ctx context.Context, g *errgroup.Group, n int) <-chan int {
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return next
}

// Evaluate drains in with `workers` accumulators (0 means GOMAXPROCS) and
// sums them. It is the whole evaluation for a caller that receives blocks
// on a channel; the channel must be closed after the last block. Pack (or
// Finalize) the sums to release them.
func (ev *Evaluator) Evaluate(ctx context.Context, in <-chan *Block, workers int) (*Sums, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	accs := make([]*Accumulator, workers)
	for w := range accs {
		var err error
		if accs[w], err = ev.NewAccumulator(); err != nil {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, acc := range accs {
		g.Go(func() error {
			for {
				select {
				case <-gctx.Done():
					return gctx.Err()
				case b, ok := <-in:
					if !ok {
						return nil
					}
					if err := acc.Add(b); err != nil {
						return err
					}
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return ev.Sum(accs...)
}
