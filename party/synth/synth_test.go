package synth

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
	retailN   int
	insureN   int
	sharedAll int
}

// joinWorld matches the two files on the normalized e-mail, checks the
// phone agrees, and keeps people who consented on both sides.
func joinWorld(t *testing.T, dir string, m Model) joined {
	t.Helper()
	rf := readCSV(t, filepath.Join(dir, "retailer.csv"))
	inf := readCSV(t, filepath.Join(dir, "insurer.csv"))
	byEmail := map[string]int{}
	phones := map[string]bool{}
	for i, r := range rf.rows {
		e := normEmail(rf.get(r, "email"))
		if _, dup := byEmail[e]; dup {
			t.Fatalf("retailer row %d: duplicated e-mail after normalization", i)
		}
		p := normPhone(rf.get(r, "phone"))
		if phones[p] || len(p) != 12 {
			t.Fatalf("retailer row %d: duplicated or malformed phone after normalization", i)
		}
		phones[p] = true
		byEmail[e] = i
	}
	j := joined{x: map[string][]float64{}, y: map[string][]float64{}, retailN: len(rf.rows), insureN: len(inf.rows)}
	for _, r := range inf.rows {
		k, ok := byEmail[normEmail(inf.get(r, "email"))]
		if !ok {
			continue
		}
		j.sharedAll++
		rr := rf.rows[k]
		if normPhone(rf.get(rr, "phone")) != normPhone(inf.get(r, "phone")) {
			t.Fatal("a shared person's phone differs between the sides after normalization")
		}
		if rf.get(rr, "consent") != "true" || inf.get(r, "consent") != "true" {
			continue
		}
		for _, c := range m.Spend {
			j.x[c.Name] = append(j.x[c.Name], rf.num(t, rr, "spend_"+c.Name))
		}
		for _, c := range m.Claims {
			j.y[c.Name] = append(j.y[c.Name], inf.num(t, r, "claims_"+c.Name))
		}
		j.exposure = append(j.exposure, inf.num(t, r, "exposure_months"))
		j.ageBand = append(j.ageBand, inf.get(r, "age_band"))
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

// TestTruthMatchesFiles recomputes every statistic of truth.json from the
// files alone, the way an analyst holding both in the clear would.
func TestTruthMatchesFiles(t *testing.T) {
	dir := t.TempDir()
	m := DefaultModel()
	if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 20000, Overlap: 0.6, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	tr := readTruth(t, dir)
	j := joinWorld(t, dir, m)
	if j.retailN != 20000 || j.insureN != 20000 {
		t.Fatalf("rows: retailer %d insurer %d, want 20000 each", j.retailN, j.insureN)
	}
	if j.sharedAll != 12000 || tr.Shared != 12000 {
		t.Fatalf("shared people: files %d truth %d, want 12000", j.sharedAll, tr.Shared)
	}
	n := len(j.exposure)
	if n != tr.N {
		t.Fatalf("consenting intersection: files %d, truth %d", n, tr.N)
	}
	// Each side opts out ~8 % independently: ~84.6 % of shared consent on both.
	if f := float64(n) / 12000; f < 0.82 || f > 0.87 {
		t.Fatalf("consenting share of the intersection %.3f, want ≈ 0.846", f)
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
}

// TestPlantedEffects checks that the planted effects, and the confounding,
// are visible in the files: what a demo query is expected to find.
func TestPlantedEffects(t *testing.T) {
	dir := t.TempDir()
	m := DefaultModel()
	if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 30000, Overlap: 0.8, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	j := joinWorld(t, dir, m)
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
				if _, err := Generate(context.Background(), Options{Dir: d, Customers: 3000, Overlap: 0.5, Seed: 42, Format: format, Transactions: true}); err != nil {
					t.Fatal(err)
				}
			}
			names := []string{"retailer." + format, "insurer." + format, "truth.json"}
			if format != FormatSQLite {
				names = append(names, "retailer_transactions."+format)
			}
			for _, n := range names {
				x, err := os.ReadFile(filepath.Join(a, n))
				if err != nil {
					t.Fatal(err)
				}
				y, err := os.ReadFile(filepath.Join(b, n))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(x, y) {
					t.Errorf("%s differs between two runs with the same seed", n)
				}
			}
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
// offers, in every format: same rows, no clipping, every record valid.
func TestSources(t *testing.T) {
	m := DefaultModel()
	norm := source.Options{
		NormalizeEmail: func(s string) (string, error) { return normEmail(s), nil },
		NormalizePhone: func(s, _ string) (string, error) { return normPhone(s), nil },
	}
	digests := map[string]map[string]string{"retailer": {}, "insurer": {}}
	for _, format := range []string{FormatCSV, FormatParquet, FormatSQLite} {
		dir := t.TempDir()
		if _, err := Generate(context.Background(), Options{Dir: dir, Customers: 1500, Seed: 3, Format: format, Transactions: true}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			side string
			cfg  source.Config
		}{
			{"retailer", RetailerSource(dir, format, false, m)},
			{"retailer", RetailerSource(dir, format, true, m)},
			{"insurer", InsurerSource(dir, format, m)},
		} {
			st, err := source.Scan(context.Background(), c.cfg, norm, func(*source.Row) error { return nil })
			if err != nil {
				t.Fatalf("%s %s: %v", format, c.cfg.Path, err)
			}
			if st.Rows != 1500 || len(st.Clipped) != 0 || len(st.Missing) != 0 || len(st.Invalid) != 0 {
				t.Fatalf("%s %s: rows %d, clipped %v, missing %v, invalid %v", format, c.cfg.Path, st.Rows, st.Clipped, st.Missing, st.Invalid)
			}
			digests[c.side][st.DigestHex()] = format
		}
	}
	if len(digests["retailer"]) != 1 || len(digests["insurer"]) != 1 {
		t.Fatalf("formats and layouts disagree: %v", digests)
	}
}
