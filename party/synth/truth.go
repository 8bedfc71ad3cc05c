package synth

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Truth is the content of truth.json: the options, the counts of matched
// people under each match rule and consent purpose, the model, and the
// exact plaintext statistics over the people a node finds in common under
// the rule StatisticsOver (by default: people on both sides who consented
// to research on both sides and whose e-mail agrees), in the form the
// engine computes them.
type Truth struct {
	Seed         uint64  `json:"seed"`
	Customers    int     `json:"customers"`
	Overlap      float64 `json:"overlap"`
	Format       string  `json:"format"`
	Transactions bool    `json:"transactions"`
	Noise        Noise   `json:"noise"`
	// Shared is the number of people on both sides.
	Shared int `json:"shared"`
	// MatchCounts: N is the number of shared people who consented to
	// research (column consent) on both sides, the others how many of
	// them each match rule pairs.
	MatchCounts
	// Marketing counts the same for consent to marketing (column
	// consent_marketing on both sides).
	Marketing MatchCounts `json:"marketing"`
	// StatisticsOver is the match rule whose pairs, among the N
	// research-consenting, every statistic below is taken over; their
	// number is StatisticsN().
	StatisticsOver string `json:"statistics_over"`
	// Retailer and Insurer count each side's records.
	Retailer SideCounts `json:"retailer"`
	Insurer  SideCounts `json:"insurer"`
	Model    Model      `json:"model"`
	// Pairs has one entry per category of Model.Spend × claim type: x is
	// the spend in dollars, y the claim count.
	Pairs []PairStat `json:"pairs"`
	// Quartiles has one entry per planted effect: claims by spend
	// quartile of the category.
	Quartiles []QuartileStat `json:"quartiles"`
	// Associations has one entry per retailer spend column (Model.Spend,
	// then Model.ProxyCheck) × protected insurer column (age_band,
	// pregnant): how strongly the column stands in for the protected one.
	Associations []Association `json:"associations"`
}

// MatchCounts counts people on both sides who consented to one purpose on
// both sides (N) and, of them, those each match rule pairs: whose e-mail
// agrees (Email), whose phone is present on both sides (Phone; it agrees
// whenever present), and either (EmailOrPhone). Identifiers are unique per
// person, so the multi-key rule pairs exactly these.
type MatchCounts struct {
	N            int `json:"n"`
	Email        int `json:"matched_email"`
	Phone        int `json:"matched_phone"`
	EmailOrPhone int `json:"matched_email_or_phone"`
}

// Matched is the number of pairs the rule (MatchEmail, MatchPhone or
// MatchEmailOrPhone) finds.
func (c MatchCounts) Matched(rule string) int {
	switch rule {
	case MatchPhone:
		return c.Phone
	case MatchEmailOrPhone:
		return c.EmailOrPhone
	}
	return c.Email
}

func (c *MatchCounts) add(emailAgrees, phoneAgrees bool) {
	c.N++
	if emailAgrees {
		c.Email++
	}
	if phoneAgrees {
		c.Phone++
	}
	if emailAgrees || phoneAgrees {
		c.EmailOrPhone++
	}
}

func matches(rule string, emailAgrees, phoneAgrees bool) bool {
	switch rule {
	case MatchPhone:
		return phoneAgrees
	case MatchEmailOrPhone:
		return emailAgrees || phoneAgrees
	}
	return emailAgrees
}

// StatisticsN is the number of people the statistics are over: what a
// node matching under StatisticsOver finds in common for research.
func (t *Truth) StatisticsN() int { return t.Matched(t.StatisticsOver) }

// SideCounts counts one side's records.
type SideCounts struct {
	Records          int `json:"records"`
	Consent          int `json:"consent"`
	ConsentMarketing int `json:"consent_marketing"`
	MissingPhone     int `json:"missing_phone"`
	// ChangedEmail counts the records holding the person's second
	// address (always 0 at the retailer).
	ChangedEmail int `json:"changed_email"`
}

func (s *SideCounts) note(consent bool, r record, insurer bool) {
	s.Records++
	s.Consent += int(b2i(consent))
	s.ConsentMarketing += int(b2i(r.marketing))
	s.MissingPhone += int(b2i(r.noPhone))
	if insurer {
		s.ChangedEmail += int(b2i(r.changed))
	}
}

func (s *SideCounts) add(o SideCounts) {
	s.Records += o.Records
	s.Consent += o.Consent
	s.ConsentMarketing += o.ConsentMarketing
	s.MissingPhone += o.MissingPhone
	s.ChangedEmail += o.ChangedEmail
}

// matchTally is what the insurer counts of the shared people.
type matchTally struct {
	shared              int
	research, marketing MatchCounts
}

func (t *matchTally) add(o matchTally) {
	t.shared += o.shared
	for _, p := range []struct{ dst, src *MatchCounts }{{&t.research, &o.research}, {&t.marketing, &o.marketing}} {
		p.dst.N += p.src.N
		p.dst.Email += p.src.Email
		p.dst.Phone += p.src.Phone
		p.dst.EmailOrPhone += p.src.EmailOrPhone
	}
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

// Association is how strongly one retailer column goes with one protected
// insurer column over the people of the statistics. x is the spend in
// dollars, the protected column's value its level index.
type Association struct {
	Column    string `json:"column"`
	Protected string `json:"protected"`
	N         int    `json:"n"`
	// R is Pearson's r of x with the level index: for a column with two
	// levels the point-biserial correlation.
	R float64 `json:"r"`
	// Eta is the correlation ratio: the square root of the share of x's
	// variance between the levels' means.
	Eta float64 `json:"eta"`
	// CramersV is Cramér's V of the table of x's spend quartile (Cuts, as
	// in QuartileStat; empty quartiles left out) by level.
	CramersV float64     `json:"cramers_v"`
	Cuts     [3]float64  `json:"cuts"`
	Levels   []LevelStat `json:"levels"`
}

// LevelStat is x over the people at one level of the protected column.
type LevelStat struct {
	Level string  `json:"level"`
	N     int     `json:"n"`
	Mean  float64 `json:"mean"`
}

// accumulator gathers the counts and the statistics while the insurer is
// written. Memory: every category's spend, the claims, the exposure, age
// band and pregnancy of each person the statistics are over.
type accumulator struct {
	w       *world
	rule    string
	nc, nt  int // research categories, claim types
	ncat    int // all categories
	counts  matchTally
	insurer SideCounts
	n       int
	sx, sxx []float64
	sy, syy []float64
	sxy     []float64 // nc × nt

	cents    []int32 // n × ncat
	claims   []uint16
	exposure []uint8
	band     []uint8
	pregnant []bool
}

func newAccumulator(w *world, rule string) *accumulator {
	a := &accumulator{w: w, rule: rule, nc: len(w.m.Spend), nt: len(w.m.Claims), ncat: len(w.cats)}
	a.sx, a.sxx = make([]float64, a.nc), make([]float64, a.nc)
	a.sy, a.syy = make([]float64, a.nt), make([]float64, a.nt)
	a.sxy = make([]float64, a.nc*a.nt)
	return a
}

func (a *accumulator) add(cents []int64, exposure int, claims []int, band uint8, pregnant bool) {
	a.n++
	for t, y := range claims {
		fy := float64(y)
		a.sy[t] += fy
		a.syy[t] += fy * fy
		a.claims = append(a.claims, uint16(min(y, math.MaxUint16)))
	}
	for c, v := range cents[:a.nc] {
		// The value a reader parses from the two-decimal text.
		x := float64(v) / 100
		a.sx[c] += x
		a.sxx[c] += x * x
		row := a.sxy[c*a.nt : (c+1)*a.nt]
		for t, y := range claims {
			row[t] += x * float64(y)
		}
	}
	for _, v := range cents {
		a.cents = append(a.cents, int32(v))
	}
	a.exposure = append(a.exposure, uint8(exposure))
	a.band = append(a.band, band)
	a.pregnant = append(a.pregnant, pregnant)
}

// column is category c's spend in dollars, one value per person.
func (a *accumulator) column(c int) []float64 {
	xs := make([]float64, a.n)
	for i := range xs {
		xs[i] = float64(a.cents[i*a.ncat+c]) / 100
	}
	return xs
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

func (a *accumulator) truth(o Options, retailer SideCounts) *Truth {
	m := &a.w.m
	t := &Truth{Seed: o.Seed, Customers: o.Customers, Overlap: o.Overlap, Format: o.Format,
		Transactions: o.Transactions, Noise: o.Noise, Shared: a.counts.shared, MatchCounts: a.counts.research,
		Marketing: a.counts.marketing, StatisticsOver: a.rule, Retailer: retailer, Insurer: a.insurer, Model: *m}
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
	// Per category: its quartile cuts and its associations, the costly
	// part (a sort and two passes per category), on every core.
	bands := make([]int, a.n)
	preg := make([]int, a.n)
	for i := range bands {
		bands[i], preg[i] = int(a.band[i]), int(b2i(a.pregnant[i]))
	}
	cuts := make([][3]float64, a.ncat)
	assoc := make([]Association, 2*a.ncat)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				name := "spend_" + a.w.cats[c].Name
				cuts[c] = a.quartileCuts(c)
				xs := a.column(c)
				assoc[2*c] = Associate(xs, bands, m.AgeBands, cuts[c], name, "age_band")
				assoc[2*c+1] = Associate(xs, preg, PregnantLevels, cuts[c], name, "pregnant")
			}
		}()
	}
	for c := range a.ncat {
		next <- c
	}
	close(next)
	wg.Wait()
	t.Associations = assoc
	index := map[string]int{}
	for c, cm := range a.w.cats {
		index[cm.Name] = c
	}
	for k, cl := range m.Claims {
		for _, e := range cl.Effects {
			c := index[e.Category]
			t.Quartiles = append(t.Quartiles, a.quartiles(a.column(c), cuts[c], k, e, cl.Name))
		}
	}
	return t
}

// quartileCuts are the nearest-rank 25/50/75 % quantiles of category c's
// spend in dollars. Cents sort faster than dollars and in the same order.
func (a *accumulator) quartileCuts(c int) [3]float64 {
	var cuts [3]float64
	if a.n == 0 {
		return cuts
	}
	// Spend is never negative, and many people spend nothing: only the
	// others need sorting.
	var sorted []int32
	for i := range a.n {
		if v := a.cents[i*a.ncat+c]; v > 0 {
			sorted = append(sorted, v)
		}
	}
	zeros := a.n - len(sorted)
	slices.Sort(sorted)
	for k := range cuts {
		rank := max(int(math.Ceil(float64(k+1)/4*float64(a.n))), 1) - 1
		if rank >= zeros {
			cuts[k] = float64(sorted[rank-zeros]) / 100
		}
	}
	return cuts
}

func (a *accumulator) quartiles(xs []float64, cuts [3]float64, claim int, e Effect, name string) QuartileStat {
	q := QuartileStat{Category: e.Category, Claim: name, Beta: e.Beta, Cuts: cuts}
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

// Associate measures how strongly xs goes with the levels (level[i] is the
// index into names of person i), as in Association, with xs binned by
// cuts. Sums run in the order of xs.
func Associate(xs []float64, level []int, names []string, cuts [3]float64, column, protected string) Association {
	as := Association{Column: column, Protected: protected, N: len(xs), Cuts: cuts}
	nl := len(names)
	cnt := make([]int, nl)
	sum := make([]float64, nl)
	table := make([]int, 4*nl) // quartile × level
	var sx, sl, sxx, sll, sxl float64
	for i, x := range xs {
		l := level[i]
		fl := float64(l)
		cnt[l]++
		sum[l] += x
		table[QuartileOf(x, cuts)*nl+l]++
		sx += x
		sl += fl
		sxx += x * x
		sll += fl * fl
		sxl += x * fl
	}
	n := float64(len(xs))
	if r := Pearson(n, sx, sl, sxx, sll, sxl); !math.IsNaN(r) {
		as.R = r
	}
	if len(xs) > 0 {
		mean := sx / n
		var total, between float64
		for _, x := range xs {
			total += (x - mean) * (x - mean)
		}
		for l := range names {
			as.Levels = append(as.Levels, LevelStat{Level: names[l], N: cnt[l]})
			if cnt[l] > 0 {
				as.Levels[l].Mean = sum[l] / float64(cnt[l])
				d := as.Levels[l].Mean - mean
				between += float64(cnt[l]) * d * d
			}
		}
		if total > 0 {
			as.Eta = math.Sqrt(min(1, between/total))
		}
	}
	as.CramersV = cramersV(table, nl)
	return as
}

// cramersV is Cramér's V of a table with nl columns, leaving out empty
// rows and columns; 0 when fewer than two of either remain.
func cramersV(table []int, nl int) float64 {
	rows := make([]float64, len(table)/nl)
	cols := make([]float64, nl)
	var n float64
	for k, v := range table {
		rows[k/nl] += float64(v)
		cols[k%nl] += float64(v)
		n += float64(v)
	}
	nonEmpty := func(v []float64) int {
		c := 0
		for _, x := range v {
			if x > 0 {
				c++
			}
		}
		return c
	}
	d := min(nonEmpty(rows), nonEmpty(cols)) - 1
	if d < 1 {
		return 0
	}
	var chi2 float64
	for k, v := range table {
		e := rows[k/nl] * cols[k%nl] / n
		if e > 0 {
			chi2 += (float64(v) - e) * (float64(v) - e) / e
		}
	}
	return math.Sqrt(chi2 / (n * float64(d)))
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
