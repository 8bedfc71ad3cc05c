package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
	"github.com/jointly-dev/jointly/party/source"
)

// normEmail and normPhone undo exactly the noise the generator adds: case,
// surrounding whitespace, phone punctuation and spacing, a +1 prefix.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func normPhone(s string) string {
	var d []byte
	for _, c := range []byte(s) {
		if c >= '0' && c <= '9' {
			d = append(d, c)
		}
	}
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	return "+1" + string(d)
}

type csvFile struct {
	hdr  map[string]int
	rows [][]string
}

func readCSV(t *testing.T, path string) csvFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	hdr, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	out := csvFile{hdr: map[string]int{}}
	for i, h := range hdr {
		out.hdr[h] = i
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out.rows = append(out.rows, rec)
	}
	return out
}

func (c csvFile) get(row []string, col string) string { return row[c.hdr[col]] }

func (c csvFile) num(t *testing.T, row []string, col string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(c.get(row, col), 64)
	if err != nil {
		t.Fatalf("column %s: %v", col, err)
	}
	return v
}

type joined struct {
	x         map[string][]float64 // category → spend, in insurer order
	y         map[string][]float64 // claim → count
	exposure  []float64
	ageBand   []string
	pregnant  []string
	retailN   int
	insureN   int
	sharedAll int // pairs on e-mail or phone among all records, consenting or not
	// counts per purpose ("research", "marketing"): the pairs of each
	// match rule among the records consenting to it.
	counts map[string]MatchCounts
}

// ruleKinds are the identifier columns a match rule uses, in priority order.
var ruleKinds = map[string][]string{
	MatchEmail:        {"email"},
	MatchPhone:        {"phone"},
	MatchEmailOrPhone: {"email", "phone"},
}

// matchFiles pairs insurer rows with retailer rows under the multi-key
// rule of crypto/match: kinds in priority order, greedy one-to-one, a key
// held by several records of one side ignored (the generator writes none:
// that is checked), only the rows keep accepts. It returns the retailer row
// of each insurer row, -1 for none.
func matchFiles(t *testing.T, rf, inf csvFile, kinds []string, keep func(csvFile, []string) bool) []int {
	t.Helper()
	norm := map[string]func(string) string{"email": normEmail, "phone": normPhone}
	pair := make([]int, len(inf.rows))
	for i := range pair {
		pair[i] = -1
	}
	paired := make([]bool, len(rf.rows))
	for _, kind := range kinds {
		byKey := map[string]int{}
		for k, r := range rf.rows {
			v := rf.get(r, kind)
			if strings.TrimSpace(v) == "" {
				continue
			}
			key := norm[kind](v)
			if _, dup := byKey[key]; dup {
				t.Fatalf("retailer row %d: %s shared with another record", k, kind)
			}
			byKey[key] = k
			if !keep(rf, r) || paired[k] {
				byKey[key] = -1
			}
		}
		seen := map[string]bool{}
		for i, r := range inf.rows {
			v := inf.get(r, kind)
			if strings.TrimSpace(v) == "" {
				continue
			}
			key := norm[kind](v)
			if seen[key] {
				t.Fatalf("insurer row %d: %s shared with another record", i, kind)
			}
			seen[key] = true
			if k, ok := byKey[key]; ok && k >= 0 && pair[i] < 0 && keep(inf, r) {
				pair[i], paired[k] = k, true
			}
		}
	}
	return pair
}

func consents(col string) func(csvFile, []string) bool {
	return func(f csvFile, r []string) bool { return f.get(r, col) == "true" }
}

// nameOf is the letters of an e-mail's local part before its number: the
// person's names, whichever of their addresses it is.
func nameOf(email string) string {
	local, _, _ := strings.Cut(normEmail(email), "@")
	var b []byte
	for _, c := range []byte(local) {
		if c >= 'a' && c <= 'z' {
			b = append(b, c)
		}
	}
	return string(b)
}

// joinWorld matches the two files as a node does, under the match rule and
// among the records consenting to research, checks that every pair is one
// person (same names; same phone where both sides have one and the pair
// agrees on the e-mail), and counts the pairs of every rule and purpose.
func joinWorld(t *testing.T, dir string, m Model, rule string) joined {
	t.Helper()
	rf := readCSV(t, filepath.Join(dir, "retailer.csv"))
	inf := readCSV(t, filepath.Join(dir, "insurer.csv"))
	j := joined{x: map[string][]float64{}, y: map[string][]float64{}, retailN: len(rf.rows), insureN: len(inf.rows),
		counts: map[string]MatchCounts{}}
	all := func(csvFile, []string) bool { return true }
	for _, k := range matchFiles(t, rf, inf, ruleKinds[MatchEmailOrPhone], all) {
		if k >= 0 {
			j.sharedAll++
		}
	}
	for purpose, col := range map[string]string{"research": "consent", "marketing": "consent_marketing"} {
		var c MatchCounts
		for r, dst := range map[string]*int{MatchEmail: &c.Email, MatchPhone: &c.Phone, MatchEmailOrPhone: &c.EmailOrPhone} {
			for _, k := range matchFiles(t, rf, inf, ruleKinds[r], consents(col)) {
				if k >= 0 {
					*dst++
				}
			}
		}
		j.counts[purpose] = c
	}
	for i, k := range matchFiles(t, rf, inf, ruleKinds[rule], consents("consent")) {
		if k < 0 {
			continue
		}
		r, rr := inf.rows[i], rf.rows[k]
		if nameOf(rf.get(rr, "email")) != nameOf(inf.get(r, "email")) {
			t.Fatal("a pair's e-mail addresses carry different names")
		}
		ep, ip := rf.get(rr, "phone"), inf.get(r, "phone")
		if normEmail(rf.get(rr, "email")) == normEmail(inf.get(r, "email")) && ep != "" && ip != "" && normPhone(ep) != normPhone(ip) {
			t.Fatal("a pair agreeing on the e-mail has different phones")
		}
		for _, c := range m.Categories() {
			j.x[c.Name] = append(j.x[c.Name], rf.num(t, rr, "spend_"+c.Name))
		}
		for _, c := range m.Claims {
			j.y[c.Name] = append(j.y[c.Name], inf.num(t, r, "claims_"+c.Name))
		}
		j.exposure = append(j.exposure, inf.num(t, r, "exposure_months"))
		j.ageBand = append(j.ageBand, inf.get(r, "age_band"))
		j.pregnant = append(j.pregnant, inf.get(r, "pregnant"))
	}
	return j
}

func readTruth(t *testing.T, dir string) Truth {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// sums are the sums Pearson's r is computed from.
func sums(x, y []float64) (sx, sy, sxx, syy, sxy float64) {
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		syy += y[i] * y[i]
		sxy += x[i] * y[i]
	}
	return sx, sy, sxx, syy, sxy
}

func pearson(x, y []float64) float64 {
	sx, sy, sxx, syy, sxy := sums(x, y)
	return Pearson(float64(len(x)), sx, sy, sxx, syy, sxy)
}

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestTruthMatchesFiles recomputes every statistic and count of truth.json
// from the files alone, the way an analyst holding both in the clear would,
// with and without identifier noise and under each match rule.
func TestTruthMatchesFiles(t *testing.T) {
	m := DefaultModel()
	for _, tc := range []struct {
		name  string
		noise Noise
		rule  string
	}{
		{"noise=none/over=email", Noise{}, MatchEmail},
		{"noise=default/over=email", DefaultNoise(), MatchEmail},
		{"noise=default/over=email_or_phone", DefaultNoise(), MatchEmailOrPhone},
		{"noise=heavy/over=phone", Noise{ChangedEmail: 0.5, MissingPhone: 0.3}, MatchPhone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 12000, Overlap: 0.6, Seed: 7, Noise: tc.noise, StatisticsOver: tc.rule}); err != nil {
				t.Fatal(err)
			}
			tr := readTruth(t, dir)
			j := joinWorld(t, dir, m, tc.rule)
			checkCounts(t, tr, j, tc.noise)
			checkStatistics(t, tr, j, m)
		})
	}
}

func checkCounts(t *testing.T, tr Truth, j joined, noise Noise) {
	t.Helper()
	if j.retailN != 12000 || j.insureN != 12000 || tr.Retailer.Records != 12000 || tr.Insurer.Records != 12000 {
		t.Fatalf("rows: retailer %d insurer %d, truth %d and %d, want 12000 each", j.retailN, j.insureN, tr.Retailer.Records, tr.Insurer.Records)
	}
	if tr.Shared != 7200 || tr.Noise != noise {
		t.Fatalf("truth: %d shared, noise %+v; want 7200 and %+v", tr.Shared, tr.Noise, noise)
	}
	if noise == (Noise{}) && j.sharedAll != tr.Shared {
		t.Fatalf("without noise every shared person pairs: %d pairs, %d shared", j.sharedAll, tr.Shared)
	}
	for purpose, want := range map[string]MatchCounts{"research": tr.MatchCounts, "marketing": tr.Marketing} {
		got := j.counts[purpose]
		if got.Email != want.Email || got.Phone != want.Phone || got.EmailOrPhone != want.EmailOrPhone {
			t.Errorf("%s: pairs in the files %+v, truth %+v", purpose, got, want)
		}
		// Nobody is lost without noise; with it, e-mail-or-phone finds
		// those whose e-mail changed but whose phone both sides have.
		if noise == (Noise{}) && (want.Email != want.N || want.Phone != want.N || want.EmailOrPhone != want.N) {
			t.Errorf("%s: without noise every consenting shared person pairs under every rule: %+v", purpose, want)
		}
		if want.EmailOrPhone > want.N || want.Email > want.EmailOrPhone || want.Phone > want.EmailOrPhone {
			t.Errorf("%s: counts out of order: %+v", purpose, want)
		}
		// Rates: e-mail agrees for 1 − c, the phone is on both sides for
		// (1 − p)², either for 1 − c·(1 − (1 − p)²).
		c, p := noise.ChangedEmail, 1-(1-noise.MissingPhone)*(1-noise.MissingPhone)
		n := float64(want.N)
		for _, r := range []struct {
			name string
			got  int
			want float64
		}{{"email", want.Email, 1 - c}, {"phone", want.Phone, 1 - p}, {"email_or_phone", want.EmailOrPhone, 1 - c*p}} {
			if f := float64(r.got) / n; math.Abs(f-r.want) > 4*math.Sqrt(r.want*(1-r.want)/n)+1e-9 {
				t.Errorf("%s: %s pairs %.3f of the consenting, want ≈ %.3f", purpose, r.name, f, r.want)
			}
		}
	}
	// Each side opts out ~8 % independently: ~84.6 % of shared consent on
	// both; marketing consent is 0.92·0.6 + 0.08·0.1 ≈ 0.56 per side.
	if f := float64(tr.N) / 7200; f < 0.82 || f > 0.87 {
		t.Fatalf("consenting share of the intersection %.3f, want ≈ 0.846", f)
	}
	if f := float64(tr.Marketing.N) / 7200; f < 0.28 || f > 0.35 {
		t.Fatalf("marketing-consenting share of the intersection %.3f, want ≈ 0.314", f)
	}
	if got := tr.Pairs[0].N; got != tr.StatisticsN() || got != len(j.exposure) {
		t.Fatalf("statistics over %d people, the rule %s pairs %d in truth and %d in the files", got, tr.StatisticsOver, tr.StatisticsN(), len(j.exposure))
	}
}

func checkStatistics(t *testing.T, tr Truth, j joined, m Model) {
	t.Helper()
	if len(tr.Pairs) != len(m.Spend)*len(m.Claims) {
		t.Fatalf("%d pairs, want %d", len(tr.Pairs), len(m.Spend)*len(m.Claims))
	}
	for _, p := range tr.Pairs {
		x, y := j.x[p.Category], j.y[p.Claim]
		sx, sy, sxx, syy, sxy := sums(x, y)
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"sum_x", sx, p.SumX}, {"sum_y", sy, p.SumY}, {"sum_xx", sxx, p.SumXX}, {"sum_yy", syy, p.SumYY}, {"sum_xy", sxy, p.SumXY}} {
			if !near(c.got, c.want, 1e-9) {
				t.Fatalf("%s × %s %s: files %v, truth %v", p.Category, p.Claim, c.name, c.got, c.want)
			}
		}
		if r := pearson(x, y); !near(r, p.R, 1e-9) {
			t.Fatalf("%s × %s r: files %v, truth %v", p.Category, p.Claim, r, p.R)
		}
	}
	for _, q := range tr.Quartiles {
		var groups [4]QuartileGroup
		for i, x := range j.x[q.Category] {
			g := QuartileOf(x, q.Cuts)
			groups[g].N++
			groups[g].Claims += int64(j.y[q.Claim][i])
			groups[g].ExposureMonths += int64(j.exposure[i])
			if j.y[q.Claim][i] > 0 {
				groups[g].WithClaim++
			}
		}
		for g := range groups {
			got, want := groups[g], q.Groups[g]
			if got.N != want.N || got.Claims != want.Claims || got.ExposureMonths != want.ExposureMonths || got.WithClaim != want.WithClaim {
				t.Fatalf("%s × %s quartile %d: files %+v, truth %+v", q.Category, q.Claim, g+1, got, want)
			}
		}
	}
	protected := map[string][]string{"age_band": j.ageBand, "pregnant": j.pregnant}
	levels := map[string][]string{"age_band": m.AgeBands, "pregnant": PregnantLevels}
	if len(tr.Associations) != 2*len(m.Categories()) {
		t.Fatalf("%d associations, want %d", len(tr.Associations), 2*len(m.Categories()))
	}
	for _, a := range tr.Associations {
		got := associate(t, j.x[strings.TrimPrefix(a.Column, "spend_")], protected[a.Protected], levels[a.Protected])
		if got.cuts != a.Cuts || a.N != len(j.exposure) {
			t.Fatalf("%s × %s: cuts %v over %d people in the files, truth %v over %d", a.Column, a.Protected, got.cuts, len(j.exposure), a.Cuts, a.N)
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"r", got.r, a.R}, {"eta", got.eta, a.Eta}, {"cramers_v", got.v, a.CramersV}} {
			if !near(c.got, c.want, 1e-9) {
				t.Fatalf("%s × %s %s: files %v, truth %v", a.Column, a.Protected, c.name, c.got, c.want)
			}
		}
		for l, ls := range a.Levels {
			if ls.Level != levels[a.Protected][l] || ls.N != got.n[l] || !near(ls.Mean, got.mean[l], 1e-9) {
				t.Fatalf("%s × %s level %s: truth %+v, files n %d mean %v", a.Column, a.Protected, levels[a.Protected][l], ls, got.n[l], got.mean[l])
			}
		}
	}
}

type association struct {
	cuts      [3]float64
	r, eta, v float64
	n         []int
	mean      []float64
}

// associate computes what an Association states, from its definition:
// Pearson's r with the level index, the correlation ratio, and Cramér's V
// of the nearest-rank quartile × level table without empty rows or
// columns.
func associate(t *testing.T, xs []float64, level []string, names []string) association {
	t.Helper()
	idx := make([]float64, len(xs))
	a := association{n: make([]int, len(names)), mean: make([]float64, len(names))}
	for i, l := range level {
		k := slices.Index(names, l)
		if k < 0 {
			t.Fatalf("level %q is not one of %v", l, names)
		}
		idx[i] = float64(k)
		a.n[k]++
		a.mean[k] += xs[i]
	}
	if a.r = pearson(xs, idx); math.IsNaN(a.r) {
		a.r = 0
	}
	var mean, total, between float64
	for _, x := range xs {
		mean += x / float64(len(xs))
	}
	for _, x := range xs {
		total += (x - mean) * (x - mean)
	}
	for k := range names {
		if a.n[k] > 0 {
			a.mean[k] /= float64(a.n[k])
			between += float64(a.n[k]) * (a.mean[k] - mean) * (a.mean[k] - mean)
		}
	}
	a.eta = math.Sqrt(between / total)
	sorted := slices.Sorted(slices.Values(xs))
	for k := range a.cuts {
		a.cuts[k] = sorted[int(math.Ceil(float64(k+1)*float64(len(xs))/4))-1]
	}
	table := map[[2]int]float64{}
	rows, cols := map[int]float64{}, map[int]float64{}
	for i, x := range xs {
		q := sort.SearchFloat64s(a.cuts[:], x)
		table[[2]int{q, int(idx[i])}]++
		rows[q]++
		cols[int(idx[i])]++
	}
	d := min(len(rows), len(cols)) - 1
	if d < 1 {
		return a
	}
	var chi2 float64
	for q, rn := range rows {
		for l, cn := range cols {
			e := rn * cn / float64(len(xs))
			o := table[[2]int{q, l}]
			chi2 += (o - e) * (o - e) / e
		}
	}
	a.v = math.Sqrt(chi2 / float64(len(xs)) / float64(d))
	return a
}

// TestPlantedEffects checks that the planted effects, and the confounding,
// are visible in the files: what a demo query is expected to find.
func TestPlantedEffects(t *testing.T) {
	dir := t.TempDir()
	m := DefaultModel()
	if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 30000, Overlap: 0.8, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	j := joinWorld(t, dir, m, MatchEmail)
	r := func(c, cl string) float64 { return pearson(j.x[c], j.y[cl]) }
	for _, tc := range []struct {
		cat, claim string
		min        float64
	}{
		{"diet_aids", "diabetes", 0.08},
		{"sugary_drinks", "diabetes", 0.05},
		{"alcohol", "liver", 0.08},
		{"sunscreen", "skin_cancer", 0.05},
		{"tobacco", "respiratory", 0.10},
		{"tobacco", "cardiovascular", 0.05},
	} {
		got := r(tc.cat, tc.claim)
		t.Logf("r(%s, %s) = %.3f", tc.cat, tc.claim, got)
		if got < tc.min {
			t.Errorf("r(%s, %s) = %.3f, want ≥ %.2f", tc.cat, tc.claim, got, tc.min)
		}
		// A category without an effect on this claim is only correlated
		// through age and basket size, far less.
		if null := r("pet_food", tc.claim); math.Abs(null) > got/2 {
			t.Errorf("r(pet_food, %s) = %.3f, want well below the planted %.3f", tc.claim, null, got)
		}
	}
	// hiv_related has no planted effect.
	for _, c := range m.Spend {
		if v := r(c.Name, "hiv_related"); math.Abs(v) > 0.04 {
			t.Errorf("r(%s, hiv_related) = %.3f, want ≈ 0", c.Name, v)
		}
	}
	// Claim rate rises from the bottom to the top spend quartile.
	tr := readTruth(t, dir)
	for _, q := range tr.Quartiles {
		lo, hi := q.Groups[0], q.Groups[3]
		if lo.N == 0 || hi.N == 0 {
			continue
		}
		rr := hi.RatePerYear / lo.RatePerYear
		t.Logf("%s × %s: rate ratio top/bottom quartile %.2f (beta %.1f)", q.Category, q.Claim, rr, q.Beta)
		if q.Beta > 0 && rr < 1.3 {
			t.Errorf("%s × %s: top/bottom quartile rate ratio %.2f, want ≥ 1.3", q.Category, q.Claim, rr)
		}
	}
	// Pharmacy has no effect but tracks age: correlated with cardiovascular
	// claims overall, not within an age band.
	overall := r("pharmacy", "cardiovascular")
	var xs, ys []float64
	for i, b := range j.ageBand {
		if b == "45-64" {
			xs = append(xs, j.x["pharmacy"][i])
			ys = append(ys, j.y["cardiovascular"][i])
		}
	}
	within := pearson(xs, ys)
	t.Logf("pharmacy × cardiovascular: overall %.3f, within 45-64 %.3f", overall, within)
	if overall < 0.05 || math.Abs(within) > 0.04 {
		t.Errorf("confounding: r overall %.3f (want ≥ 0.05), within band %.3f (want ≈ 0)", overall, within)
	}
}

func TestDeterministic(t *testing.T) {
	for _, format := range []string{FormatCSV, FormatParquet, FormatSQLite} {
		t.Run("format="+format, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			for _, d := range []string{a, b} {
				if _, err := Generate(context.Background(), Options{Dir: d, Customers: 3000, Overlap: 0.5, Seed: 42, Format: format, Transactions: true, Noise: DefaultNoise()}); err != nil {
					t.Fatal(err)
				}
			}
			names := []string{"retailer." + format, "insurer." + format, "truth.json"}
			if format != FormatSQLite {
				names = append(names, "retailer_transactions."+format)
			}
			fsutiltest.SameFiles(t, a, b, names...)
			// Another seed gives another world.
			c := t.TempDir()
			if _, err := Generate(context.Background(), Options{Dir: c, Customers: 3000, Overlap: 0.5, Seed: 43, Format: format}); err != nil {
				t.Fatal(err)
			}
			x, _ := os.ReadFile(filepath.Join(a, names[0]))
			y, _ := os.ReadFile(filepath.Join(c, names[0]))
			if bytes.Equal(x, y) {
				t.Errorf("seeds 42 and 43 gave the same %s", names[0])
			}
		})
	}
}

// TestGenerateFailsCleanly: a failed run names the bad option and leaves
// the directory as it was: no partial files, earlier output untouched.
func TestGenerateFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 200, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "retailer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		opts  Options
		field string
	}{
		{"negative customers", context.Background(), Options{Dir: dir, Customers: -5}, "customers"},
		{"too many customers", context.Background(), Options{Dir: dir, Customers: MaxCustomers + 1}, "customers"},
		{"overlap above one", context.Background(), Options{Dir: dir, Customers: 10, Overlap: 1.5}, "overlap"},
		{"unknown format", context.Background(), Options{Dir: dir, Customers: 10, Format: "xlsx"}, "format"},
		{"no directory", context.Background(), Options{Customers: 10}, "out"},
		{"changed e-mail above one", context.Background(), Options{Dir: dir, Customers: 10, Noise: Noise{ChangedEmail: 1.5}}, "changed-email"},
		{"negative missing phone", context.Background(), Options{Dir: dir, Customers: 10, Noise: Noise{MissingPhone: -0.1}}, "missing-phone"},
		{"NaN missing phone", context.Background(), Options{Dir: dir, Customers: 10, Noise: Noise{MissingPhone: math.NaN()}}, "missing-phone"},
		{"unknown match rule", context.Background(), Options{Dir: dir, Customers: 10, StatisticsOver: "name"}, "statistics-over"},
		{"cancelled", cancelled, Options{Dir: dir, Customers: 5000, Seed: 2, Transactions: true}, "context canceled"},
		{"cancelled sqlite", cancelled, Options{Dir: dir, Customers: 5000, Seed: 2, Format: FormatSQLite}, "context canceled"},
		{"cancelled parquet", cancelled, Options{Dir: dir, Customers: 5000, Seed: 2, Format: FormatParquet}, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.ctx, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %q", err, tc.field)
			}
			ents, _ := os.ReadDir(dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if len(names) != 3 {
				t.Fatalf("directory holds %v after a failed run, want only the earlier output", names)
			}
			after, _ := os.ReadFile(filepath.Join(dir, "retailer.csv"))
			if !bytes.Equal(before, after) {
				t.Fatal("a failed run changed the earlier retailer.csv")
			}
		})
	}
}

// TestSources reads a generated world through the configurations synth
// offers, in every format, with and without identifier noise: same rows,
// no clipping, every record valid, missing phones and consents as truth
// counts them, under either consent column.
func TestSources(t *testing.T) {
	m := DefaultModel()
	norm := source.Options{
		NormalizeEmail: func(s string) (string, error) { return normEmail(s), nil },
		NormalizePhone: func(s, _ string) (string, error) { return normPhone(s), nil },
	}
	proxyR, proxyI := ProxyCheckColumns(m)
	for _, noise := range []Noise{{}, DefaultNoise()} {
		t.Run(fmt.Sprintf("changed_email=%g/missing_phone=%g", noise.ChangedEmail, noise.MissingPhone), func(t *testing.T) {
			digests := map[string]map[string]string{}
			for _, format := range []string{FormatCSV, FormatParquet, FormatSQLite} {
				dir := t.TempDir()
				tr, err := Generate(context.Background(), Options{Dir: dir, Customers: 1500, Seed: 3, Format: format, Transactions: true, Noise: noise})
				if err != nil {
					t.Fatal(err)
				}
				withProxies := func(cfg source.Config, cols []source.Column) source.Config {
					cfg.Columns = append(cfg.Columns, cols...)
					return cfg
				}
				for _, c := range []struct {
					side   string
					cfg    source.Config
					counts SideCounts
				}{
					{"retailer", RetailerSource(dir, format, false, m), tr.Retailer},
					{"retailer", RetailerSource(dir, format, true, m), tr.Retailer},
					{"retailer+proxies", withProxies(RetailerSource(dir, format, false, m), proxyR), tr.Retailer},
					{"insurer", InsurerSource(dir, format, m), tr.Insurer},
					{"insurer+proxies", withProxies(InsurerSource(dir, format, m), proxyI), tr.Insurer},
				} {
					for consent, want := range map[string]int{"consent": c.counts.Consent, "consent_marketing": c.counts.ConsentMarketing} {
						cfg := c.cfg
						cfg.ConsentColumn = consent
						st, err := source.Scan(context.Background(), cfg, norm, func(*source.Row) error { return nil })
						if err != nil {
							t.Fatalf("%s %s: %v", format, cfg.Path, err)
						}
						if st.Rows != 1500 || st.Consenting != want || len(st.Clipped) != 0 || st.Missing[source.Email] != 0 ||
							st.Missing[source.Phone] != c.counts.MissingPhone || len(st.Invalid) != 0 {
							t.Fatalf("%s %s: rows %d, %d consenting (%s; truth %d), clipped %v, missing %v (truth: %d phones), invalid %v",
								format, cfg.Path, st.Rows, st.Consenting, consent, want, st.Clipped, st.Missing, c.counts.MissingPhone, st.Invalid)
						}
						key := c.side + "/" + consent
						if digests[key] == nil {
							digests[key] = map[string]string{}
						}
						digests[key][st.DigestHex()] = format
					}
				}
			}
			for side, d := range digests {
				if len(d) != 1 {
					t.Fatalf("%s: formats and layouts disagree: %v", side, d)
				}
			}
		})
	}
}
