package party_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
)

var idThenEmail = []string{"id", "email"}

// idWorld writes a retailer's and an insurer's CSV files over a population
// of people who each hold a loyalty card and an e-mail, and returns their
// sources, which carry the kinds id (from column card_number) and email.
// The two owners write card numbers differently, which normalization
// undoes. Some records lack a card, or hold one that normalizes to
// nothing; the insurer has stale e-mails and mistyped cards for some
// shared customers (the e-mail then finds them), and for some a card that
// belongs to a retailer customer it does not have, beside the right
// e-mail: the kinds' priority decides.
func idWorld(t testing.TB, people int, seed uint64) (retailer, insurer source.Config) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 7))
	card := func(p int) int { return 10_000_000 + 7919*p }
	cardR := func(p int) string { c := card(p); return fmt.Sprintf("lc-%04d-%04d", c/10_000, c%10_000) }
	cardI := func(p int) string { c := card(p); return fmt.Sprintf("LC %d.%d", c/1000, c%1000) }
	email := func(p int) string { return fmt.Sprintf("Person%d@Example.org", p) }
	inR, inI := make([]bool, people), make([]bool, people)
	for p := range people {
		inR[p], inI[p] = rng.Float64() < 0.7, rng.Float64() < 0.6
	}
	consent := func() string { return strconv.FormatBool(rng.Float64() >= 0.08) }

	var rRows, iRows [][]string
	for p := range people {
		if !inR[p] {
			continue
		}
		c, e := cardR(p), email(p)
		switch x := rng.Float64(); {
		case x < 0.20:
			c = ""
		case x < 0.25:
			c = " - " // normalizes to nothing: rejected, counted
		case x < 0.30:
			e = ""
		case x < 0.32:
			c, e = "", "" // dropped: no key of any kind
		}
		spend := float64(p%97)*7.5 + float64(rng.IntN(100))/100
		rRows = append(rRows, []string{c, e, consent(), strconv.FormatFloat(spend, 'f', 2, 64)})
	}
	var others []int // retailer customers the insurer does not have
	for p := range people {
		if inR[p] && !inI[p] {
			others = append(others, p)
		}
	}
	for p := range people {
		if !inI[p] {
			continue
		}
		c, e := cardI(p), email(p)
		switch x := rng.Float64(); {
		case x < 0.25:
			c = ""
		case x < 0.30:
			c = fmt.Sprintf("LC%d", card(p)+1) // mistyped
		case x < 0.36 && len(others) > 0:
			c, others = cardI(others[0]), others[1:]
		}
		switch x := rng.Float64(); {
		case x < 0.20:
			e = fmt.Sprintf("old.address%d@example.net", p) // stale
		case x < 0.28:
			e = ""
		}
		claims := math.Floor(float64(p%97)/20) + float64(rng.IntN(2))
		iRows = append(iRows, []string{c, e, consent(), strconv.FormatFloat(claims, 'f', 0, 64)})
	}
	rng.Shuffle(len(iRows), func(a, b int) { iRows[a], iRows[b] = iRows[b], iRows[a] })
	write := func(name, col string, rows [][]string) string {
		return writeCSV(t, filepath.Join(dir, name), []string{"card_number", "email", "consent", col}, rows)
	}
	lo, hiS, hiC := 0.0, 1000.0, 10.0
	kinds := []string{"id", "email"}
	retailer = source.Config{Kind: source.KindCSV, Path: write("retailer.csv", "spend", rRows), Identifiers: kinds, IDColumn: "card_number",
		Columns: []source.Column{{Name: "spend", Type: source.TypeNumeric, Lo: &lo, Hi: &hiS}}}
	insurer = source.Config{Kind: source.KindCSV, Path: write("insurer.csv", "claims", iRows), Identifiers: kinds, IDColumn: "card_number",
		Columns: []source.Column{{Name: "claims", Type: source.TypeNumeric, Lo: &lo, Hi: &hiC}}}
	return retailer, insurer
}

// TestMatchOnIDThenEmail: two nodes over gRPC that match on the card
// number, then the e-mail, answer an exact joint query over exactly the
// pairs the documented rule makes, computed in plaintext from the same
// sources; records without a card are found by their e-mail.
func TestMatchOnIDThenEmail(t *testing.T) {
	rSrc, iSrc := idWorld(t, 400, 11)
	r := partytest.LoadTableJoin(t, rSrc, idThenEmail)
	ins := partytest.LoadTableJoin(t, iSrc, idThenEmail)
	pairs := plainMultiKeyPairs(r, ins)
	byID, byEmail := plainOneKey(r, ins, 0), plainOneKey(r, ins, 1)
	if len(pairs) <= byID || len(pairs) <= byEmail {
		t.Fatalf("world too easy: %d pairs, %d by id alone, %d by e-mail alone", len(pairs), byID, byEmail)
	}
	withoutID := 0
	for _, p := range pairs {
		if len(r.MultiKeys[p[0]][0]) == 0 || len(ins.MultiKeys[p[1]][0]) == 0 {
			withoutID++
		}
	}
	if withoutID == 0 {
		t.Fatal("no pair of a record without an id")
	}
	// The priority matters in this world: e-mail first pairs otherwise.
	// Both orders keep the same records, so the pairs compare.
	rev := plainMultiKeyPairs(partytest.LoadTableJoin(t, rSrc, []string{"email", "id"}), partytest.LoadTableJoin(t, iSrc, []string{"email", "id"}))
	sortPairs := func(ps [][2]int) [][2]int {
		ps = slices.Clone(ps)
		slices.SortFunc(ps, func(a, b [2]int) int { return a[0] - b[0] })
		return ps
	}
	if slices.Equal(sortPairs(pairs), sortPairs(rev)) {
		t.Fatal("world too easy: e-mail first gives the same pairs")
	}

	c := startMultiKey(t, rSrc, iSrc, idThenEmail, idThenEmail)
	res, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims"}},
		Correlations: true, Purpose: "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkJointOverPairs(t, res, pairs, r.Values["spend"], ins.Values["claims"])
	t.Logf("%d pairs (id alone %d, e-mail alone %d, %d of them without an id on one side; e-mail first %d) of %d and %d records",
		len(pairs), byID, byEmail, withoutID, len(rev), r.Records(), ins.Records())
}
