package synth

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoiseTouchesOnlyIdentifiers: identifier noise replaces the insurer's
// e-mail of a share of records with the person's second address and
// empties a share of phones on each side, and changes nothing else.
func TestNoiseTouchesOnlyIdentifiers(t *testing.T) {
	clean, noisy := t.TempDir(), t.TempDir()
	opts := Options{Customers: 4000, Overlap: 0.5, Seed: 5, Transactions: true}
	for _, c := range []struct {
		dir   string
		noise Noise
	}{{clean, Noise{}}, {noisy, DefaultNoise()}} {
		o := opts
		o.Dir, o.Noise = c.dir, c.noise
		if _, err := Generate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	tr := readTruth(t, noisy)
	for _, c := range []struct {
		file   string
		counts SideCounts
	}{{"retailer.csv", tr.Retailer}, {"retailer_transactions.csv", SideCounts{}}, {"insurer.csv", tr.Insurer}} {
		a, b := readCSV(t, filepath.Join(clean, c.file)), readCSV(t, filepath.Join(noisy, c.file))
		if len(a.rows) != len(b.rows) || len(a.hdr) != len(b.hdr) {
			t.Fatalf("%s: %d rows of %d columns without noise, %d of %d with", c.file, len(a.rows), len(a.hdr), len(b.rows), len(b.hdr))
		}
		var changed, missing int
		for i := range a.rows {
			for col, k := range a.hdr {
				x, y := a.rows[i][k], b.rows[i][b.hdr[col]]
				switch {
				case x == y:
				case col == "phone" && y == "":
					missing++
				case col == "email" && c.file == "insurer.csv":
					changed++
					_, dom, _ := strings.Cut(normEmail(y), "@")
					if !slices.Contains(otherDomains, dom) || nameOf(x) != nameOf(y) {
						t.Fatalf("%s row %d: the changed address is not the person's second one", c.file, i+1)
					}
				default:
					t.Fatalf("%s row %d: noise changed column %s", c.file, i+1, col)
				}
			}
		}
		if c.file == "retailer_transactions.csv" {
			continue
		}
		if changed != c.counts.ChangedEmail || missing != c.counts.MissingPhone {
			t.Fatalf("%s: %d changed e-mails and %d missing phones, truth %d and %d", c.file, changed, missing, c.counts.ChangedEmail, c.counts.MissingPhone)
		}
		for _, r := range []struct {
			name      string
			got, want float64
		}{{"missing phones", float64(missing), 0.10}, {"changed e-mails", float64(changed), map[string]float64{"insurer.csv": 0.15}[c.file]}} {
			if f := r.got / 4000; math.Abs(f-r.want) > 0.02 {
				t.Errorf("%s: %s %.3f of the records, want ≈ %.2f", c.file, r.name, f, r.want)
			}
		}
	}
}

// TestPlantedProxies checks what the proxy check and the consent per
// purpose are expected to find: prenatal spend stands in for pregnancy,
// pharmacy and baby spend for age band, stationery spend for nothing; and
// marketing consent mostly comes with research consent.
func TestPlantedProxies(t *testing.T) {
	dir := t.TempDir()
	m := DefaultModel()
	tr, err := Generate(context.Background(), Options{Dir: dir, Customers: 30000, Overlap: 0.8, Seed: 11, Noise: DefaultNoise()})
	if err != nil {
		t.Fatal(err)
	}
	assoc := map[[2]string]Association{}
	for _, a := range tr.Associations {
		assoc[[2]string{a.Column, a.Protected}] = a
		if a.N != tr.StatisticsN() {
			t.Fatalf("%s × %s over %d people, the statistics over %d", a.Column, a.Protected, a.N, tr.StatisticsN())
		}
	}
	for _, c := range []struct {
		column, protected string
		lo, hi            float64 // bounds on r, eta and V alike
	}{
		{"spend_prenatal", "pregnant", 0.4, 1},
		{"spend_baby", "pregnant", 0.08, 0.35},
		{"spend_pharmacy", "age_band", 0.25, 1},
		{"spend_baby", "age_band", 0.2, 1},
		{"spend_stationery", "pregnant", 0, 0.04},
		{"spend_stationery", "age_band", 0, 0.04},
	} {
		a := assoc[[2]string{c.column, c.protected}]
		t.Logf("%s × %s: r %.3f, eta %.3f, V %.3f", c.column, c.protected, a.R, a.Eta, a.CramersV)
		for _, v := range []float64{math.Abs(a.R), a.Eta, a.CramersV} {
			if v < c.lo || v > c.hi {
				t.Errorf("%s × %s: r %.3f, eta %.3f, V %.3f, want each within [%g, %g]", c.column, c.protected, a.R, a.Eta, a.CramersV, c.lo, c.hi)
				break
			}
		}
	}
	// The insurer's pregnancy shares follow the model by age band.
	inf := readCSV(t, filepath.Join(dir, "insurer.csv"))
	var n, preg [4]float64
	for _, r := range inf.rows {
		b := slices.Index(m.AgeBands, inf.get(r, "age_band"))
		n[b]++
		if inf.get(r, "pregnant") == "yes" {
			preg[b]++
		}
	}
	for b := range n {
		want := m.Pregnancy[b]
		if got := preg[b] / n[b]; math.Abs(got-want) > 4*math.Sqrt(want*(1-want)/n[b])+1e-9 {
			t.Errorf("age band %s: %.4f pregnant, want ≈ %.3f", m.AgeBands[b], got, want)
		}
	}
	// Marketing consent by research consent, on each side.
	for _, file := range []string{"retailer.csv", "insurer.csv"} {
		f := readCSV(t, filepath.Join(dir, file))
		var n, yes [2]float64
		for _, r := range f.rows {
			k := b2i(f.get(r, "consent") == "true")
			n[k]++
			if f.get(r, "consent_marketing") == "true" {
				yes[k]++
			}
		}
		for k := range n {
			want := m.MarketingConsent[k]
			if got := yes[k] / n[k]; math.Abs(got-want) > 4*math.Sqrt(want*(1-want)/n[k]) {
				t.Errorf("%s: marketing consent %.3f among records with research consent %v, want ≈ %.2f", file, got, k == 1, want)
			}
		}
	}
}
