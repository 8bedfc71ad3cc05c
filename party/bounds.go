package party

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/source"
)

// Automatic bounds: a column declared with an auto_bounds block gets its
// public bounds from the data, estimated once with a differentially
// private quantile (dp.Quantile) and charged to the owner's own budget.
// The estimate is kept in data_dir/bounds/COLUMN.json and reused on every
// start until the block's parameters change or the file is removed.

// OwnerAccount is the budget ledger's account of the data owner itself:
// what the node spends on its own differentially private releases, the
// estimates of automatic bounds. No querier can be named so (a querier's
// name starts with a letter or digit), so none can spend from it or read
// it.
const OwnerAccount = "@owner"

// DefaultOwnerEpsilon is the owner's ε budget when policy.owner_epsilon
// is left out: ten columns' automatic bounds at the default ε = 0.1.
const DefaultOwnerEpsilon = 1

// boundsCandidates is the size of the public grid a bound is chosen
// from: consecutive candidates over [0, 1e9] are 1.07 % apart. More
// candidates buy resolution at a cost in the slack a quantile needs,
// (2/ε)·ln(candidates/β) ranks (dp.QuantileSlack).
const boundsCandidates = 2000

// boundsMechanism names how an estimate is made (with boundsCandidates);
// a stored estimate made another way is made again.
const boundsMechanism = "dp.Quantile over dp.QuantileCandidates"

// boundsFailure is the chance dp.QuantileSlack is computed for when the
// node warns that a column has too few records for its quantile.
const boundsFailure = 0.1

// BoundsEstimate says how the node estimated a column's bounds. It is
// public, like the bounds: `jointly info` shows it.
type BoundsEstimate struct {
	// Epsilon is what the estimate spent from the owner's budget.
	Epsilon float64
	// Quantile is the quantile hi estimates; lo, when it was estimated
	// too, estimates 1 − Quantile.
	Quantile float64
	// Lo reports that lo was estimated too (with half of Epsilon, and hi
	// with the other half); otherwise lo is declared.
	Lo bool
}

// boundsParams is what an estimate depends on besides the data: a stored
// estimate is reused as long as they are unchanged.
type boundsParams struct {
	Mechanism  string     `json:"mechanism"`
	Candidates int        `json:"candidates"`
	Epsilon    float64    `json:"epsilon"`
	Quantile   float64    `json:"quantile"`
	Within     [2]float64 `json:"within"`
	// Lo is the declared lo, absent when lo is estimated too.
	Lo *float64 `json:"lo,omitempty"`
}

func paramsOf(col source.Column) boundsParams {
	a := col.AutoBounds
	return boundsParams{Mechanism: boundsMechanism, Candidates: boundsCandidates, Epsilon: a.Epsilon, Quantile: a.Quantile, Within: [2]float64{a.Within[0], a.Within[1]}, Lo: col.Lo}
}

// candidates are the values an estimate chooses hi (and lo) from, above
// a declared lo, and the ε each estimate spends.
func (p boundsParams) candidates() ([]float64, float64, error) {
	cands, err := dp.QuantileCandidates(p.Within[0], p.Within[1], p.Candidates)
	if err != nil {
		return nil, 0, err
	}
	if p.Lo == nil {
		return cands, p.Epsilon / 2, nil
	}
	i := 0
	for i < len(cands) && cands[i] <= *p.Lo {
		i++
	}
	return cands[i:], p.Epsilon, nil // within's b is above lo: validated
}

// recordsWanted is how many records an estimate at eps over n candidates
// wants: with fewer, fewer than dp.QuantileSlack lie above the quantile,
// and the estimate may land beyond the data.
func (p boundsParams) recordsWanted(eps float64, n int) int {
	return int(math.Ceil(dp.QuantileSlack(eps, n, boundsFailure) / (1 - p.Quantile)))
}

// AutoBoundsRecordsWanted is how many records the automatic estimate of
// col's bounds (auto_bounds, with its defaults filled in) wants at its ε
// and quantile; the node warns when it estimates from fewer, and so does
// jointly validate. 0 for a column without auto_bounds.
func AutoBoundsRecordsWanted(col source.Column) int {
	if col.AutoBounds == nil {
		return 0
	}
	p := paramsOf(col)
	cands, eps, err := p.candidates()
	if err != nil {
		return 0
	}
	return p.recordsWanted(eps, len(cands))
}

func (p boundsParams) equal(o boundsParams) bool {
	same := p.Lo == nil && o.Lo == nil || p.Lo != nil && o.Lo != nil && *p.Lo == *o.Lo
	return same && p.Mechanism == o.Mechanism && p.Candidates == o.Candidates && p.Epsilon == o.Epsilon && p.Quantile == o.Quantile && p.Within == o.Within
}

// digest identifies the parameters in the budget ledger's charge.
func (p boundsParams) digest() string {
	b, _ := json.Marshal(p) // a struct of numbers and a string: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// storedBounds is an estimate as the node keeps it.
type storedBounds struct {
	Column string       `json:"column"`
	Params boundsParams `json:"params"`
	// Lo and Hi are the selected candidates (Lo the declared lo when only
	// hi was estimated); the public bounds round them outward (publicBounds).
	Lo   float64   `json:"lo"`
	Hi   float64   `json:"hi"`
	Time time.Time `json:"time"`
	// Charge is the id of the estimate's charge in the budget ledger.
	Charge string `json:"charge"`
}

// boundsFile is where the estimate of column is kept in the node's store
// (column names are letters, digits and underscores).
func boundsFile(column string) string { return path.Join("bounds", column+".json") }

// StoredBounds returns the public bounds of an auto_bounds column as the
// node estimated them, if it did with the column's current parameters:
// what the node will use at its next start without spending anything.
func (c *Config) StoredBounds(col source.Column) (lo, hi float64, ok bool, err error) {
	if col.AutoBounds == nil {
		return 0, 0, false, nil
	}
	sb, found, err := (&store{dir: c.DataDir}).readBounds(col.Name)
	if err != nil || !found || !sb.Params.equal(paramsOf(col)) {
		return 0, 0, false, err
	}
	lo, hi = publicBounds(sb.Lo, sb.Hi, col)
	return lo, hi, true, nil
}

func (s *store) readBounds(column string) (storedBounds, bool, error) {
	var sb storedBounds
	found, err := s.readJSON(boundsFile(column), &sb)
	if err != nil {
		return storedBounds{}, true, fmt.Errorf("%w; remove it to have the bounds of %s estimated again (charged again)", err, column)
	}
	return sb, found, nil
}

// resolveBounds gives every auto_bounds column of the source its public
// bounds in t: the stored estimate when its parameters are unchanged, a
// new estimate otherwise, charged to the owner's budget and recorded in
// the audit log before the node uses it. A budget that cannot pay for an
// estimate stops the node.
func (n *Node) resolveBounds(t *Table) error {
	if n.cfg.Source == nil {
		return nil
	}
	log := n.logger.Named("bounds")
	for _, col := range n.cfg.Source.Columns {
		if col.AutoBounds == nil {
			continue
		}
		values := t.Values[col.Name]
		sb, found, err := n.store.readBounds(col.Name)
		if err != nil {
			return err
		}
		params := paramsOf(col)
		reuse := found && sb.Params.equal(params)
		if !reuse {
			if found {
				log.Info("auto_bounds changed since the last estimate: estimating again", "column", col.Name)
			}
			if sb, err = n.estimateBounds(col, params, values, log); err != nil {
				return err
			}
		}
		lo, hi := publicBounds(sb.Lo, sb.Hi, col)
		t.Bounds[col.Name] = [2]float64{lo, hi}
		put(&t.Estimated, col.Name, BoundsEstimate{Epsilon: params.Epsilon, Quantile: params.Quantile, Lo: col.EstimatesLo()})
		outside := 0
		for _, v := range values {
			if v < lo || v > hi {
				outside++
			}
		}
		kv := []any{"column", col.Name, "lo", lo, "hi", hi, "epsilon", params.Epsilon, "quantile", params.Quantile, "values_outside", outside}
		if reuse {
			log.Info("bounds estimated before are reused, nothing charged", append(kv, "estimated_at", sb.Time.Format(time.RFC3339))...)
		} else {
			log.Info("bounds estimated with differential privacy", append(kv, "owner_epsilon_left", n.gov.ledger.Remaining(OwnerAccount).Epsilon)...)
		}
		if steps := TooWideToSquare(col, lo, hi); steps > 0 {
			log.Warn("estimated bounds too wide to square: queries this node evaluates that need the column's squares (correlations and regressions with it as x) are refused; "+
				"an estimate this high comes from few records: declare hi, or a coarser step",
				"column", col.Name, "lo", lo, "hi", hi, "step", *col.Step, "encoded_values", steps, "at_most", aggregate.MaxSquared)
		}
	}
	return nil
}

// TooWideToSquare returns the encoded values of col between lo and hi
// when a query this node evaluates could not square them (more than
// aggregate.MaxSquared steps of col's declared step: correlations and
// regressions with col as an x column are refused), 0 otherwise. Such a
// column still serves as an uploaded y and without squares.
func TooWideToSquare(col source.Column, lo, hi float64) int64 {
	if col.Step == nil || *col.Step <= 0 {
		return 0 // the encoding picks its resolution to fit
	}
	steps := int64(math.Round((hi - lo) / *col.Step))
	if steps <= aggregate.MaxSquared {
		return 0
	}
	return steps
}

// estimateBounds charges, makes, records and stores a new estimate of
// col's bounds from values, in that order: nothing is estimated that is
// not charged, and a crash after the charge at worst charges a second
// estimate at the next start.
func (n *Node) estimateBounds(col source.Column, p boundsParams, values []float64, log hclog.Logger) (storedBounds, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return storedBounds{}, fmt.Errorf("party: bounds of %s: %w", col.Name, err)
	}
	charge := "bounds-" + col.Name + "-" + hex.EncodeToString(id[:])
	head, err := n.gov.ledger.Charge(OwnerAccount, charge, p.digest(), p.Epsilon, 0)
	if errors.Is(err, ledger.ErrBudgetExhausted) {
		left := n.gov.ledger.Remaining(OwnerAccount)
		return storedBounds{}, fmt.Errorf("%w: estimating the bounds of column %s costs ε = %g, and the owner's budget (policy.owner_epsilon = %g) has ε = %g left: "+
			"raise owner_epsilon, or declare the column's bounds instead of auto_bounds", ErrBudgetExhausted, col.Name, p.Epsilon, n.cfg.Policy.OwnerEpsilon, left.Epsilon)
	}
	if err != nil {
		return storedBounds{}, fmt.Errorf("party: budget ledger: %w", err)
	}

	cands, eps, err := p.candidates()
	if err != nil {
		return storedBounds{}, fmt.Errorf("party: bounds of %s: %w", col.Name, err)
	}
	sb := storedBounds{Column: col.Name, Params: p, Time: time.Now().UTC(), Charge: charge}
	if p.Lo != nil {
		sb.Lo = *p.Lo
	}
	if wanted := p.recordsWanted(eps, len(cands)); len(values) < wanted {
		log.Warn("few records for automatic bounds at this ε and quantile: the estimate may land beyond the data", "column", col.Name,
			"records", len(values), "records_wanted", wanted)
	}
	if sb.Hi, err = n.quantile(values, p.Quantile, eps, cands); err != nil {
		return storedBounds{}, fmt.Errorf("party: bounds of %s: %w", col.Name, err)
	}
	if p.Lo == nil {
		if sb.Lo, err = n.quantile(values, 1-p.Quantile, eps, cands); err != nil {
			return storedBounds{}, fmt.Errorf("party: bounds of %s: %w", col.Name, err)
		}
		sb.Lo, sb.Hi = orderBounds(sb.Lo, sb.Hi, cands)
	}

	lo, hi := publicBounds(sb.Lo, sb.Hi, col)
	estimated := "hi"
	if p.Lo == nil {
		estimated = "lo and hi"
	}
	rem := n.gov.ledger.Remaining(OwnerAccount)
	if err := n.record(audit.Event{Kind: audit.KindBoundsEstimated, Epsilon: p.Epsilon, Detail: map[string]string{
		audit.DetailColumn: col.Name, "estimated": estimated, "lo": fmt.Sprint(lo), "hi": fmt.Sprint(hi),
		"quantile": fmt.Sprint(p.Quantile), "within": fmt.Sprintf("[%g, %g]", p.Within[0], p.Within[1]),
		"remaining_epsilon": fmt.Sprintf("%.6g", rem.Epsilon), audit.DetailCharge: charge, "params_digest": p.digest(),
		audit.DetailLedgerHead: head.String()}}); err != nil {
		return storedBounds{}, err
	}
	if err := n.store.writeJSON(boundsFile(col.Name), sb); err != nil {
		return storedBounds{}, err
	}
	return sb, nil
}

// quantile selects an ε-DP quantile of values with the node's sampler
// (crypto/rand).
func (n *Node) quantile(values []float64, q, eps float64, cands []float64) (float64, error) {
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	return n.gov.sampler.Quantile(values, q, eps, cands)
}

// orderBounds makes two independently selected candidates a range: in
// order, and apart, the upper one moved to the next candidate when both
// are the same (the candidates are public, so this costs nothing).
func orderBounds(lo, hi float64, cands []float64) (float64, float64) {
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo < hi {
		return lo, hi
	}
	for i, c := range cands {
		if c == hi {
			if i+1 < len(cands) {
				return lo, cands[i+1]
			}
			return cands[i-1], hi
		}
	}
	return lo, hi
}

// publicBounds are the bounds the node publishes for an estimate: the
// selected candidates rounded outward, onto the column's step when it
// declares one (its bounds must be multiples of it), else to three
// significant digits, which reads better and widens a bound by less than
// 1 %. A declared lo stays as declared.
func publicBounds(lo, hi float64, col source.Column) (float64, float64) {
	rlo, rhi := lo, hi
	var step float64
	if col.Step != nil {
		step = *col.Step
	}
	if col.EstimatesLo() {
		rlo = roundOut(lo, step, false)
	}
	rhi = roundOut(hi, step, true)
	if !(rlo < rhi) {
		return lo, hi
	}
	return rlo, rhi
}

// roundOut rounds v up (or down) onto the grid of step, or to three
// significant digits without a step.
func roundOut(v, step float64, up bool) float64 {
	dir := math.Floor
	if up {
		dir = math.Ceil
	}
	if step > 0 {
		if source.OnGrid(v, step) {
			return v
		}
		// With step = 1/m for an integer m (0.01, 0.5), k/m is the
		// float64 nearest the decimal k·step; k·step may be an ulp off.
		if m := math.Round(1 / step); m > 1 && math.Abs(1/step-m) < 1e-9*m {
			return dir(v*m) / m
		}
		return dir(v/step) * step
	}
	if v == 0 {
		return 0
	}
	e := int(math.Floor(math.Log10(math.Abs(v)))) - 2
	if e >= 0 {
		unit := math.Pow10(e)
		return dir(v/unit) * unit
	}
	m := math.Pow10(-e)
	return dir(v*m) / m
}
