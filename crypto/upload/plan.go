package upload

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// MinLambda is the smallest flooding parameter accepted: each party floods
// its key-switch share with σ = 2^λ·B_ct, which hides the ciphertext noise
// up to statistical distance about 2^-λ.
const MinLambda = 40

// PlanConfig holds the public quantities the noise plan depends on. Every
// data owner derives the same Plan from the same PlanConfig and Circuit.
type PlanConfig struct {
	// MaxRecords is the public bound Lmax on the union size. It sets the
	// headroom (a sum of Lmax products must not wrap) and the noise growth.
	MaxRecords int
	// Lambda is the number of flooding bits λ (at least MinLambda).
	Lambda int
	// Parties is the number of owners of the session: each floods its
	// share of the final key switch independently. Parties − 1 sessions
	// (one per uploader, with a common evaluator) may be summed: the
	// data-independent noise is bounded for that many, and MaxRecords
	// bounds the total of their union sizes.
	Parties int
	// KeyHolders is the number of parties of the collective key (at least
	// Parties; 0 means Parties). The Galois and public keys carry one error
	// per key holder.
	KeyHolders int
	// PrecisionBits k asks for a homomorphic error (after flooding) of
	// standard deviation at most 2^-k times the largest contribution one
	// record can make to the statistic. k = 10 keeps counts exact after
	// rounding and the error far below any useful differential-privacy noise.
	PrecisionBits int
	// Exact asks for bit-exact statistics instead of PrecisionBits (which
	// it ignores): the worst-case error of every product the querier
	// decrypts, the uniform flooding of all Parties at its full width
	// 2^λ·B_ct plus B_ct itself, stays below a quarter of one unit of the
	// product, so Plan.DecodeExact rounds it away. The margin to one half
	// covers a ciphertext noise up to 2^λ times its six-sigma bound B_ct
	// and the key switch's own small error (NOISE.md section 6).
	Exact bool
	// SplitBits is the digit width for multipliers: a multiplier wider than
	// SplitBits bits (typically a square x²) is written as Σ_d 2^(d·S)·x_d
	// with digits x_d < 2^S, and each digit is a separate product. The wire
	// cost of an uploaded column grows with log2 of its widest multiplier,
	// so splitting x² = 2^11·h + l saves 11 bits per record at the price of
	// one more product.
	SplitBits int
}

// DefaultPlanConfig returns the configuration of docs/architecture.md, "Encoding and statistics":
// λ = 40, two parties, 2^20 records, k = 10, 11-bit digits.
func DefaultPlanConfig() PlanConfig {
	return PlanConfig{MaxRecords: 1 << 20, Lambda: MinLambda, Parties: 2, PrecisionBits: 10, SplitBits: 11}
}

// Validate fills zero fields with their defaults and rejects bad values.
func (c *PlanConfig) Validate() error {
	d := DefaultPlanConfig()
	c.MaxRecords = cmp.Or(c.MaxRecords, d.MaxRecords)
	c.Lambda = cmp.Or(c.Lambda, d.Lambda)
	c.Parties = cmp.Or(c.Parties, d.Parties)
	c.KeyHolders = cmp.Or(c.KeyHolders, c.Parties)
	c.PrecisionBits = cmp.Or(c.PrecisionBits, d.PrecisionBits)
	c.SplitBits = cmp.Or(c.SplitBits, d.SplitBits)
	switch {
	case c.MaxRecords < 1 || int64(c.MaxRecords) > 1<<34:
		return fmt.Errorf("%w: MaxRecords %d not in [1, 2^34]", ErrInvalidConfig, c.MaxRecords)
	case c.Lambda < MinLambda || c.Lambda > 128:
		return fmt.Errorf("%w: Lambda %d not in [%d, 128]", ErrInvalidConfig, c.Lambda, MinLambda)
	case c.Parties < 2 || c.Parties > 64:
		return fmt.Errorf("%w: Parties %d not in [2, 64]", ErrInvalidConfig, c.Parties)
	case c.KeyHolders < c.Parties || c.KeyHolders > 64:
		return fmt.Errorf("%w: KeyHolders %d not in [Parties, 64]", ErrInvalidConfig, c.KeyHolders)
	case c.PrecisionBits < 1 || c.PrecisionBits > 60:
		return fmt.Errorf("%w: PrecisionBits %d not in [1, 60]", ErrInvalidConfig, c.PrecisionBits)
	case c.SplitBits < 1 || c.SplitBits > 30:
		return fmt.Errorf("%w: SplitBits %d not in [1, 30]", ErrInvalidConfig, c.SplitBits)
	}
	return nil
}

// Product is one plaintext × ciphertext product of the evaluation: a digit
// of a statistic's multiplier times one of its uploaded columns (the
// column, or a digit column of Stat.Digits). A statistic whose multiplier
// is not split and that has no digit columns has exactly one product with
// Shift 0.
type Product struct {
	Stat       int
	Column     int
	Multiplier int
	// Digit is the digit index of the multiplier, and 2^Shift the
	// product's weight in its statistic: the multiplier digit's
	// 2^(Digit·SplitBits) times the column digit's 2^ColumnShift.
	Digit, Shift int
	// ColumnShift is the weight of the column's digit (Stat.Digits), 0
	// for the statistic's own column.
	ColumnShift int
	// Max bounds the multiplier digit's values.
	Max int64
}

// MultiplierShift is the position of the product's multiplier digit in
// the multiplier: the evaluator takes the digit as (m >> MultiplierShift)
// masked to SplitBits.
func (pr Product) MultiplierShift() int { return pr.Shift - pr.ColumnShift }

// ColumnPlan is the encoding the planner chose for one uploaded column.
type ColumnPlan struct {
	// Level is the ciphertext level (RNS limbs q_0..q_Level).
	Level int
	// LogDelta is the scale: record values are encoded as value·2^LogDelta.
	LogDelta int
	// LowBits is the number of bits kept of the residue mod q_0; the residues
	// mod q_1..q_Level travel exactly. Lossless when LowBits = bitlen(q_0).
	LowBits int
	// WireBits is the number of bits per record on the wire.
	WireBits int
	// Lossless reports that the residue mod q_0 is sent exactly.
	Lossless bool
	// NoiseStd is σ_c, the standard deviation of the per-coefficient noise
	// of the reconstructed ciphertext (fresh noise of both sides plus the
	// compression error).
	NoiseStd float64
}

// Plan is the public encoding and noise plan of one circuit: per column the
// level, scale and wire bits, per product the noise bound that sets the
// key-switch flooding, and the decoding of the querier's plaintexts.
type Plan struct {
	params   rlwe.Parameters
	cfg      PlanConfig
	circuit  Circuit
	cols     []ColumnPlan
	products []Product
	// fixStd is σ_fix per column: the noise Trace and re-randomization add,
	// independent of the data.
	fixStd []float64
	// colMax is the widest multiplier digit of each column's products.
	colMulMax []int64
	// rerandStd is σ_rr, the noise of one fresh public-key encryption.
	rerandStd float64
}

// NewPlan chooses, for every uploaded column, the lowest ciphertext level,
// the scale and the number of wire bits that meet cfg.PrecisionBits after
// flooding with cfg.Lambda bits. It uses public quantities only, so every
// party computes the same plan. NOISE.md derives the formulas.
func NewPlan(params rlwe.Parameters, c Circuit, cfg PlanConfig) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if params.RingType() != ring.Standard || !params.NTTFlag() {
		return nil, fmt.Errorf("%w: needs the standard ring with the NTT flag", ErrInvalidConfig)
	}
	p := &Plan{params: params, cfg: cfg}
	p.circuit = c
	p.circuit = p.Circuit() // own copy: the caller may reuse its slices
	for si, s := range c.Stats {
		cols := append([]ColumnDigit{{Column: s.Column}}, s.Digits...)
		for _, cd := range cols {
			for _, d := range digits(c.Multipliers[s.Multiplier].Max, cfg.SplitBits) {
				d.Stat, d.Column, d.Multiplier = si, cd.Column, s.Multiplier
				d.Shift += cd.Shift
				d.ColumnShift = cd.Shift
				p.products = append(p.products, d)
			}
		}
	}
	nm, err := newNoiseModel(params, cfg)
	if err != nil {
		return nil, err
	}
	p.rerandStd = nm.rerandStd()
	p.cols = make([]ColumnPlan, len(c.Columns))
	p.fixStd = make([]float64, len(c.Columns))
	p.colMulMax = make([]int64, len(c.Columns))
	for ci := range c.Columns {
		var mulMax []int64
		for _, pr := range p.products {
			if pr.Column == ci {
				mulMax = append(mulMax, pr.Max)
				p.colMulMax[ci] = max(p.colMulMax[ci], pr.Max)
			}
		}
		cp, fix, err := planColumn(params, nm, cfg, c.Columns[ci].Max, mulMax)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Columns[ci].Name, err)
		}
		p.cols[ci], p.fixStd[ci] = cp, fix
	}
	return p, nil
}

// digits splits a multiplier bound into SplitBits-wide digits.
func digits(m int64, s int) []Product {
	n := (bits.Len64(uint64(m)) + s - 1) / s
	if n <= 1 {
		return []Product{{Max: m}}
	}
	out := make([]Product, n)
	for d := range out {
		out[d] = Product{Digit: d, Shift: d * s, Max: int64(1)<<s - 1}
	}
	out[n-1].Max = m >> (s * (n - 1))
	return out
}

// tailSigmas is the tail factor of every bound: B = 6σ, exceeded with
// probability below 2·10^-9 per coefficient for Gaussian-like noise.
const tailSigmas = 6

// planColumn implements the planner of NOISE.md section 3.
func planColumn(params rlwe.Parameters, nm noiseModel, cfg PlanConfig, colMax int64, mulMax []int64) (ColumnPlan, float64, error) {
	lmax := float64(cfg.MaxRecords)
	var widest int64
	for _, m := range mulMax {
		widest = max(widest, m)
	}
	tmax := float64(widest) * float64(colMax) * lmax
	q := params.Q()
	q0 := float64(q[0])
	b0max := bits.Len64(q[0])
	flood := math.Sqrt(float64(cfg.Parties)) * math.Exp2(float64(cfg.Lambda))
	var lastNeed float64
	for level := 0; level <= params.MaxLevel(); level++ {
		logQ := 0.0
		exact := 0
		for k := 0; k <= level; k++ {
			logQ += math.Log2(float64(q[k]))
			if k > 0 {
				exact += bits.Len64(q[k])
			}
		}
		logDelta := int(math.Floor(logQ - 2 - math.Log2(tmax)))
		if logDelta < 0 {
			continue
		}
		delta := math.Exp2(float64(logDelta))
		fix := nm.fixStd(level)
		// Largest σ_c that keeps every product of the column on target.
		sigmaMax := math.Inf(1)
		for _, m := range mulMax {
			var bAllowed float64 // the largest B_ct/6
			if cfg.Exact {
				worst := float64(cfg.Parties)*math.Exp2(float64(cfg.Lambda)) + 1
				bAllowed = delta / (4 * worst) / tailSigmas
			} else {
				target := math.Exp2(-float64(cfg.PrecisionBits)) * float64(m) * float64(colMax)
				bAllowed = target * delta / flood / tailSigmas
			}
			v := bAllowed*bAllowed - fix*fix
			if v <= 0 {
				sigmaMax = 0
				break
			}
			sigmaMax = min(sigmaMax, math.Sqrt(v)/(math.Sqrt(lmax)*float64(m)))
		}
		fresh2 := nm.freshVar
		if sigmaMax*sigmaMax <= fresh2*1.01 {
			lastNeed = logQ
			continue
		}
		stepMax := math.Sqrt(12 * (sigmaMax*sigmaMax - fresh2))
		low := int(math.Ceil(math.Log2(q0 / stepMax)))
		cp := ColumnPlan{Level: level, LogDelta: logDelta}
		switch {
		case low >= b0max:
			cp.LowBits, cp.Lossless = b0max, true
			cp.NoiseStd = math.Sqrt(fresh2)
		default:
			cp.LowBits = max(low, 1)
			step := q0 / math.Exp2(float64(cp.LowBits))
			cp.NoiseStd = math.Sqrt(fresh2 + step*step/12)
		}
		cp.WireBits = cp.LowBits + exact
		return cp, fix, nil
	}
	if cfg.Exact {
		return ColumnPlan{}, 0, fmt.Errorf("%w: exact sums of Lmax=%d records under λ=%d need more than the %.0f modulus bits available",
			ErrInfeasible, cfg.MaxRecords, cfg.Lambda, max(lastNeed, params.LogQ()))
	}
	return ColumnPlan{}, 0, fmt.Errorf("%w: Lmax=%d, λ=%d, k=%d need more than the %.0f modulus bits available",
		ErrInfeasible, cfg.MaxRecords, cfg.Lambda, cfg.PrecisionBits, max(lastNeed, params.LogQ()))
}

// Config returns the configuration the plan was made with (defaults filled).
func (p *Plan) Config() PlanConfig { return p.cfg }

// Circuit returns a copy of the circuit the plan was made for.
func (p *Plan) Circuit() Circuit {
	c := Circuit{
		Columns:     append([]Column(nil), p.circuit.Columns...),
		Multipliers: append([]Column(nil), p.circuit.Multipliers...),
		Stats:       append([]Stat(nil), p.circuit.Stats...),
	}
	for i, s := range c.Stats {
		c.Stats[i].Digits = append([]ColumnDigit(nil), s.Digits...)
	}
	return c
}

// Parameters returns the RLWE parameters of the plan.
func (p *Plan) Parameters() rlwe.Parameters { return p.params }

// Column returns the encoding chosen for uploaded column i.
func (p *Plan) Column(i int) ColumnPlan { return p.cols[i] }

// Product returns product i of Products.
func (p *Plan) Product(i int) Product { return p.products[i] }

// Products lists the plaintext × ciphertext products in the order of the
// ciphertexts Finalize returns and Decode expects.
func (p *Plan) Products() []Product { return append([]Product(nil), p.products...) }

// Blocks returns the number of blocks of N records a union of the given
// size occupies.
func (p *Plan) Blocks(unionSize int) int {
	n := p.params.N()
	return (unionSize + n - 1) / n
}

// BlockBytes returns the wire size of one upload block of column i,
// header included.
func (p *Plan) BlockBytes(i int) int {
	return blockHeaderSize + payloadBytes(p.params.LogN(), p.cols[i].WireBits)
}

// NoiseBound returns B_ct, the public bound on the absolute value of every
// noise coefficient of product i's final ciphertext (after Trace and
// re-randomization, before the key switch to the querier). It depends on
// public quantities only; see NOISE.md.
func (p *Plan) NoiseBound(i int) float64 {
	pr := p.products[i]
	sc := p.cols[pr.Column].NoiseStd
	fix := p.fixStd[pr.Column]
	m := float64(pr.Max)
	return tailSigmas * math.Sqrt(float64(p.cfg.MaxRecords)*m*m*sc*sc+fix*fix)
}

// NoiseBoundEncrypted is NoiseBound(i) when each of the cfg.Parties parties
// also adds one fresh public-key encryption to product i's ciphertext (an
// owner's DP noise, NOISE.md section 4):
// B = 6·√(L·M²·σ_c² + σ_fix² + P·σ_rr²).
func (p *Plan) NoiseBoundEncrypted(i int) float64 {
	pr := p.products[i]
	sc := p.cols[pr.Column].NoiseStd
	fix := p.fixStd[pr.Column]
	m := float64(pr.Max)
	rr := p.rerandStd
	return tailSigmas * math.Sqrt(float64(p.cfg.MaxRecords)*m*m*sc*sc+fix*fix+float64(p.cfg.Parties)*rr*rr)
}

// FloodingSigma returns the standard deviation each party uses to flood its
// share of the key switch of product i: σ = 2^λ·B_ct.
func (p *Plan) FloodingSigma(i int) float64 {
	return math.Exp2(float64(p.cfg.Lambda)) * p.NoiseBound(i)
}

// ErrorStd returns the standard deviation of the homomorphic error of
// statistic s after decoding, dominated by the flooding of all parties, in
// the statistic's own (fixed-point integer) units. Confidence intervals add
// it to the differential-privacy noise.
func (p *Plan) ErrorStd(s int) float64 {
	var v float64
	for i, pr := range p.products {
		if pr.Stat != s {
			continue
		}
		f := p.FloodingSigma(i)
		e := math.Sqrt(float64(p.cfg.Parties)*f*f) * math.Exp2(float64(pr.Shift-p.cols[pr.Column].LogDelta))
		v += e * e
	}
	return math.Sqrt(v)
}
