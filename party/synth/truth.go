package synth

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Truth is the content of truth.json: the model and the exact plaintext
// statistics over the consenting intersection (people on both sides who
// consented on both sides), in the form the engine computes them.
type Truth struct {
	Seed         uint64  `json:"seed"`
	Customers    int     `json:"customers"`
	Overlap      float64 `json:"overlap"`
	Format       string  `json:"format"`
	Transactions bool    `json:"transactions"`
	// Shared is the number of people on both sides; N those of them who
	// consented on both sides, over whom every statistic is taken.
	Shared int   `json:"shared"`
	N      int   `json:"n"`
	Model  Model `json:"model"`
	// Pairs has one entry per category × claim type: x is the spend in
	// dollars, y the claim count.
	Pairs []PairStat `json:"pairs"`
	// Quartiles has one entry per planted effect: claims by spend
	// quartile of the category.
	Quartiles []QuartileStat `json:"quartiles"`
}

// PairStat holds the sufficient statistics of one pair and its Pearson r.
type PairStat struct {
	Category string  `json:"category"`
	Claim    string  `json:"claim"`
	N        int     `json:"n"`
	SumX     float64 `json:"sum_x"`
	SumY     float64 `json:"sum_y"`
	SumXX    float64 `json:"sum_xx"`
	SumYY    float64 `json:"sum_yy"`
	SumXY    float64 `json:"sum_xy"`
	R        float64 `json:"r"`
}

// QuartileStat splits the consenting intersection by the quartiles of a
// category's spend. Cuts are the nearest-rank 25/50/75 % quantiles; group
// k holds cut[k-1] < x ≤ cut[k]. With many people at zero spend, ties can
// leave a group empty.
type QuartileStat struct {
	Category string           `json:"category"`
	Claim    string           `json:"claim"`
	Beta     float64          `json:"beta"`
	Cuts     [3]float64       `json:"cuts"`
	Groups   [4]QuartileGroup `json:"groups"`
}

// QuartileGroup is one spend quartile.
type QuartileGroup struct {
	N              int     `json:"n"`
	Claims         int64   `json:"claims"`
	ExposureMonths int64   `json:"exposure_months"`
	RatePerYear    float64 `json:"rate_per_year"`
	WithClaim      int     `json:"with_claim"`
}

// accumulator gathers the intersection's statistics while the insurer is
// written. Memory: the planted categories' spend, the claims and the
// exposure of each consenting shared person.
type accumulator struct {
	nc, nt  int
	shared  int
	n       int
	sx, sxx []float64
	sy, syy []float64
	sxy     []float64 // nc × nt

	planted  []int       // category indices with an effect
	xs       [][]float64 // per planted category
	claims   []uint16    // n × nt
	exposure []uint8
}

func newAccumulator(m *Model) *accumulator {
	a := &accumulator{nc: len(m.Spend), nt: len(m.Claims)}
	a.sx, a.sxx = make([]float64, a.nc), make([]float64, a.nc)
	a.sy, a.syy = make([]float64, a.nt), make([]float64, a.nt)
	a.sxy = make([]float64, a.nc*a.nt)
	for c, cm := range m.Spend {
		for _, cl := range m.Claims {
			for _, e := range cl.Effects {
				if e.Category == cm.Name && !slices.Contains(a.planted, c) {
					a.planted = append(a.planted, c)
				}
			}
		}
	}
	a.xs = make([][]float64, len(a.planted))
	return a
}

func (a *accumulator) add(cents []int64, exposure int, claims []int) {
	a.n++
	for t, y := range claims {
		fy := float64(y)
		a.sy[t] += fy
		a.syy[t] += fy * fy
		a.claims = append(a.claims, uint16(min(y, math.MaxUint16)))
	}
	for c, v := range cents {
		// The value a reader parses from the two-decimal text.
		x := float64(v) / 100
		a.sx[c] += x
		a.sxx[c] += x * x
		row := a.sxy[c*a.nt : (c+1)*a.nt]
		for t, y := range claims {
			row[t] += x * float64(y)
		}
	}
	for k, c := range a.planted {
		a.xs[k] = append(a.xs[k], float64(cents[c])/100)
	}
	a.exposure = append(a.exposure, uint8(exposure))
}

// Pearson is r from sufficient statistics; NaN when a variance is zero.
func Pearson(n, sx, sy, sxx, syy, sxy float64) float64 {
	cov := n*sxy - sx*sy
	vx := n*sxx - sx*sx
	vy := n*syy - sy*sy
	if vx <= 0 || vy <= 0 {
		return math.NaN()
	}
	return cov / math.Sqrt(vx*vy)
}

func (a *accumulator) truth(m *Model, o Options, l layout) *Truth {
	t := &Truth{Seed: o.Seed, Customers: o.Customers, Overlap: o.Overlap, Format: o.Format,
		Transactions: o.Transactions, Shared: a.shared, N: a.n, Model: *m}
	n := float64(a.n)
	for c, cm := range m.Spend {
		for k, cl := range m.Claims {
			p := PairStat{Category: cm.Name, Claim: cl.Name, N: a.n,
				SumX: a.sx[c], SumY: a.sy[k], SumXX: a.sxx[c], SumYY: a.syy[k], SumXY: a.sxy[c*a.nt+k]}
			p.R = Pearson(n, p.SumX, p.SumY, p.SumXX, p.SumYY, p.SumXY)
			if math.IsNaN(p.R) {
				p.R = 0
			}
			t.Pairs = append(t.Pairs, p)
		}
	}
	for k, cl := range m.Claims {
		for _, e := range cl.Effects {
			pk := -1
			for j, c := range a.planted {
				if m.Spend[c].Name == e.Category {
					pk = j
				}
			}
			t.Quartiles = append(t.Quartiles, a.quartiles(pk, k, e, cl.Name))
		}
	}
	return t
}

func (a *accumulator) quartiles(pk, claim int, e Effect, name string) QuartileStat {
	q := QuartileStat{Category: e.Category, Claim: name, Beta: e.Beta}
	xs := a.xs[pk]
	if len(xs) == 0 {
		return q
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	for k := range q.Cuts {
		rank := int(math.Ceil(float64(k+1) / 4 * float64(len(sorted))))
		q.Cuts[k] = sorted[max(rank, 1)-1]
	}
	for i, x := range xs {
		g := QuartileOf(x, q.Cuts)
		y := int64(a.claims[i*a.nt+claim])
		q.Groups[g].N++
		q.Groups[g].Claims += y
		q.Groups[g].ExposureMonths += int64(a.exposure[i])
		if y > 0 {
			q.Groups[g].WithClaim++
		}
	}
	for g := range q.Groups {
		if q.Groups[g].ExposureMonths > 0 {
			q.Groups[g].RatePerYear = float64(q.Groups[g].Claims) / (float64(q.Groups[g].ExposureMonths) / 12)
		}
	}
	return q
}

// QuartileOf is the group of x given the cuts: the first k with x ≤ cut[k],
// else 3.
func QuartileOf(x float64, cuts [3]float64) int {
	for k, c := range cuts {
		if x <= c {
			return k
		}
	}
	return 3
}

func writeTruth(st *staging, t *Truth) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("synth: truth: %w", err)
	}
	f, err := st.create("truth.json")
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("synth: write truth.json: %w", err)
	}
	return f.Close()
}
