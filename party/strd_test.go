package party_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/aggregate/stats/lstest"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// The linear least-squares datasets of the NIST Statistical Reference
// Datasets (testdata/strd, README.md there), run as regressions through two
// real nodes in exact mode: the predictors at node0, the outcome at node1.

// strdColumn is a column of a dataset: its declared bounds and step, and
// for a polynomial column the data column and power it is computed from.
type strdColumn struct {
	name          string
	lo, hi, step  float64
	base          string
	power         int
	values        []float64  // as a node holds them
	exact         []*big.Rat // the decimal values, exactly
	coefficientOf string     // "b1", …
}

// strdSet is one dataset.
type strdSet struct {
	name      string
	intercept bool
	y         *strdColumn
	xs        []*strdColumn
	certified map[string][2]float64 // b0, b1, …; rsd and r2 in [0]
	n         int
}

// loadStRD reads testdata/strd/<name>.txt.
func loadStRD(t *testing.T, name string) *strdSet {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "strd", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &strdSet{name: name, certified: map[string][2]float64{}}
	num := func(tok string) float64 {
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	byName := map[string]*strdColumn{}
	var header []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tok := strings.Fields(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || tok[0] == "model":
		case tok[0] == "intercept":
			s.intercept = tok[1] == "true"
		case tok[0] == "column":
			c := &strdColumn{name: tok[1], lo: num(tok[3]), hi: num(tok[5]), step: num(tok[7])}
			if len(tok) > 8 && tok[8] == "from" {
				base, pow, _ := strings.Cut(tok[9], "^")
				c.base, c.power = base, int(num(pow))
			}
			byName[c.name] = c
			if c.name == "y" {
				s.y = c
			} else {
				s.xs = append(s.xs, c)
			}
		case tok[0] == "certified":
			v := [2]float64{num(tok[2])}
			if len(tok) > 3 {
				v[1] = num(tok[3])
			}
			s.certified[tok[1]] = v
		case tok[0] == "data":
			header = tok[1:]
		default:
			if len(tok) != len(header) {
				t.Fatalf("%s: row %q has %d values for %d columns", name, line, len(tok), len(header))
			}
			for k, h := range header {
				c := byName[h]
				r, ok := new(big.Rat).SetString(tok[k])
				if !ok {
					t.Fatalf("%s: %q is not a number", name, tok[k])
				}
				c.values, c.exact = append(c.values, num(tok[k])), append(c.exact, r)
			}
			s.n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for j, c := range s.xs {
		if c.base != "" {
			b := byName[c.base]
			for i := range b.exact {
				r := new(big.Rat).SetInt64(1)
				for range c.power {
					r.Mul(r, b.exact[i])
				}
				f, _ := r.Float64()
				c.values, c.exact = append(c.values, f), append(c.exact, r)
			}
		}
		c.coefficientOf = fmt.Sprintf("b%d", j+1)
	}
	return s
}

// design returns the rows of the regression's design (with a leading 1
// with an intercept) and the outcome, as exact rationals.
func (s *strdSet) design() (x [][]*big.Rat, y []*big.Rat) {
	for i := 0; i < s.n; i++ {
		var row []*big.Rat
		if s.intercept {
			row = append(row, big.NewRat(1, 1))
		}
		for _, c := range s.xs {
			row = append(row, c.exact[i])
		}
		x, y = append(x, row), append(y, s.y.exact[i])
	}
	return x, y
}

// strdFit is a fitted model: coefficients b0, b1, … (b0 only with an
// intercept), their standard errors, R² (centred with an intercept,
// uncentred without) and the residual standard deviation.
type strdFit struct {
	beta, se map[string]float64
	r2, rsd  float64
}

// exactFit fits s in exact rational arithmetic.
func (s *strdSet) exactFit(t *testing.T) strdFit {
	t.Helper()
	x, y := s.design()
	f, err := lstest.Exact(x, y, s.intercept)
	if err != nil {
		t.Fatal(err)
	}
	return s.fit(f)
}

// fit names the coefficients of f as the certified values do.
func (s *strdSet) fit(f lstest.Fit) strdFit {
	fit := strdFit{beta: map[string]float64{}, se: map[string]float64{}, r2: f.R2, rsd: f.RSD}
	for j := range f.Beta {
		name := fmt.Sprintf("b%d", j)
		if !s.intercept {
			name = fmt.Sprintf("b%d", j+1)
		}
		fit.beta[name], fit.se[name] = f.Beta[j], f.SE[j]
	}
	return fit
}

// qrFit fits s in float64 by Householder QR of the design with its columns
// scaled to unit norm, the careful plaintext route a statistics package
// takes (no normal equations).
func (s *strdSet) qrFit() strdFit {
	xr, yr := s.design()
	x, y := make([][]float64, len(xr)), make([]float64, len(yr))
	for i := range xr {
		for _, v := range xr[i] {
			f, _ := v.Float64()
			x[i] = append(x[i], f)
		}
		y[i], _ = yr[i].Float64()
	}
	return s.fit(lstest.Householder(x, y, s.intercept))
}

// lre is NIST's log relative error: the number of significant digits got
// shares with the certified value, −log10(|got − want|/|want|), or
// −log10|got| for a certified zero, capped at the 15 digits NIST certifies.
func lre(got, want float64) float64 {
	d := math.Abs(got - want)
	if want != 0 {
		d /= math.Abs(want)
	}
	if d == 0 {
		return 15
	}
	return math.Min(15, -math.Log10(d))
}

// digits returns the smallest LRE of every coefficient, standard error and
// R² of fit against s's certified values, and a line listing them.
func (s *strdSet) digits(fit strdFit) (float64, string) {
	low := 15.0
	var parts []string
	for b := 0; b <= len(s.xs); b++ {
		name := fmt.Sprintf("b%d", b)
		cert, ok := s.certified[name]
		if !ok {
			continue
		}
		d, e := lre(fit.beta[name], cert[0]), lre(fit.se[name], cert[1])
		low = math.Min(low, math.Min(d, e))
		parts = append(parts, fmt.Sprintf("%s %.1f/%.1f", name, d, e))
	}
	r := lre(fit.r2, s.certified["r2"][0])
	low = math.Min(low, r)
	parts = append(parts, fmt.Sprintf("R² %.1f", r))
	return low, strings.Join(parts, ", ")
}

var strdSets = []string{"Norris", "Pontius", "NoInt1", "NoInt2", "Longley", "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"}

// TestStRDCertifiedValues checks the certified values checked into
// testdata/strd against the data beside them: the exact rational
// least-squares solution must round to them (15 significant digits, up to
// the last), and a careful float64 QR must agree to the digits its
// conditioning allows.
func TestStRDCertifiedValues(t *testing.T) {
	for _, name := range strdSets {
		t.Run(name, func(t *testing.T) {
			s := loadStRD(t, name)
			exact, qr := s.exactFit(t), s.qrFit()
			if d, line := s.digits(exact); d < 13.5 {
				t.Errorf("rational solution: %.1f digits (%s)", d, line)
			}
			if d := lre(exact.rsd, s.certified["rsd"][0]); d < 13.5 {
				t.Errorf("rational residual standard deviation %.15g: %.1f digits", exact.rsd, d)
			}
			d, line := s.digits(qr)
			t.Logf("float64 QR: %.1f digits (%s)", d, line)
			if d < 6 {
				t.Errorf("float64 QR agrees to %.1f digits only", d)
			}
		})
	}
}

// TestStRD runs every dataset through two real nodes in exact mode (every
// record consenting, min_group_size 1, the columns' steps declared) and
// asks at least 9 certified significant digits of every coefficient,
// standard error and R². Wampler5's outcome spans 4.8·10⁷ steps, so its
// square is uploaded in two digits (aggregate/square.go) and Σy²
// recombined exactly. With -short only Longley and NoInt1 run (a two-node
// cluster each, about half a second).
func TestStRD(t *testing.T) {
	for _, name := range strdSets {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name != "Longley" && name != "NoInt1" {
				t.Skip("-short")
			}
			s := loadStRD(t, name)
			fit, err := s.viaNodes(t)
			if err != nil {
				t.Fatal(err)
			}
			d, line := s.digits(fit)
			t.Logf("%s through two nodes: %.1f digits (%s)", name, d, line)
			if d < 9 {
				t.Errorf("%.1f certified digits, want at least 9", d)
			}
		})
	}
}

// viaNodes loads s into two nodes, the predictors at node0 and the outcome
// at node1, runs its regression as an exact query and reads the fit from
// the result: coefficients, standard errors from the 95 % intervals, R².
func (s *strdSet) viaNodes(t *testing.T) (strdFit, error) {
	t.Helper()
	table := func(cols []*strdColumn) *party.Table {
		tb := &party.Table{Values: map[string][]float64{}, Bounds: map[string][2]float64{}, Steps: map[string]float64{}}
		for i := 0; i < s.n; i++ {
			tb.Keys = append(tb.Keys, []byte(fmt.Sprintf("row%02d@strd.example", i)))
		}
		for _, c := range cols {
			tb.Values[c.name], tb.Bounds[c.name], tb.Steps[c.name] = c.values, [2]float64{c.lo, c.hi}, c.step
		}
		tb.Digest = party.DigestTable(tb)
		return tb
	}
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{table(s.xs), table([]*strdColumn{s.y})}})
	for i := range c.Configs {
		c.Configs[i].Policy.MinGroupSize = 1
	}
	for i := range c.Configs {
		c.StartNode(t, i)
	}
	c.WaitSetup(t)
	y := aggregate.ColumnRef{Owner: partytest.NodeName(1), Name: "y"}
	var xs []aggregate.ColumnRef
	for _, col := range s.xs {
		xs = append(xs, aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: col.name})
	}
	res, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
		X: xs, Y: []aggregate.ColumnRef{y},
		Regressions: []aggregate.RegressionRequest{{Outcome: y, Predictors: xs, NoIntercept: !s.intercept}},
		Purpose:     "research", Exact: true,
	})
	if err != nil {
		return strdFit{}, err
	}
	fit := strdFit{beta: map[string]float64{}, se: map[string]float64{}}
	for _, cell := range res.Cells {
		if cell.Suppressed {
			t.Fatalf("%s %s suppressed: %s", cell.Statistic, cell.X, cell.Reason)
		}
		name := ""
		switch cell.Statistic {
		case aggregate.CellOLSIntercept:
			name = "b0"
		case aggregate.CellOLSCoef:
			for _, col := range s.xs {
				if cell.X == partytest.NodeName(0)+"."+col.name {
					name = col.coefficientOf
				}
			}
		case aggregate.CellR2:
			fit.r2 = cell.Value
			continue
		default:
			continue
		}
		if !cell.Exact || cell.NoiseStd != 0 {
			t.Errorf("%s %s: exact %v, noise %g", cell.Statistic, cell.X, cell.Exact, cell.NoiseStd)
		}
		fit.beta[name] = cell.Value
		fit.se[name] = (cell.CIHigh - cell.CILow) / (2 * stats.Z95)
	}
	for _, col := range append([]*strdColumn{s.y}, s.xs...) {
		ref := partytest.NodeName(0) + "." + col.name
		if col == s.y {
			ref = y.String()
		}
		if got := res.Resolution[ref]; got != col.step {
			t.Errorf("column %s encoded at %g, want its step %g", ref, got, col.step)
		}
	}
	return fit, nil
}
