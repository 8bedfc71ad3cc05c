package partytest

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// World generates a synthetic retailer × insurer world (CSV) in a temporary
// directory and loads both sides as nodes do (LoadTable: consenting records
// with a join key, the sources' declared bounds). It returns the retailer's
// and the insurer's tables and the world's truth. The world has no
// identifier noise: the tables have truth.N records in common.
func World(t testing.TB, customers int, overlap float64, seed uint64) (retailer, insurer *party.Table, truth *synth.Truth) {
	t.Helper()
	return WorldWith(t, synth.Options{Customers: customers, Overlap: overlap, Seed: seed})
}

// WorldWith is World under any generator options, for instance identifier
// noise; the directory and format are World's. Both sides are loaded as
// nodes that match under o.StatisticsOver load them (e-mail: the default
// join_key; otherwise join_keys = synth.MatchKinds), so that matched they
// have truth.StatisticsN() records in common.
func WorldWith(t testing.TB, o synth.Options) (retailer, insurer *party.Table, truth *synth.Truth) {
	t.Helper()
	o.Dir, o.Format = t.TempDir(), synth.FormatCSV
	truth, err := synth.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	if o.Model != nil {
		m = *o.Model
	}
	var join []string
	if truth.StatisticsOver != synth.MatchEmail {
		join = synth.MatchKinds(truth.StatisticsOver)
	}
	return LoadTableJoin(t, synth.RetailerSource(o.Dir, synth.FormatCSV, false, m), join),
		LoadTableJoin(t, synth.InsurerSource(o.Dir, synth.FormatCSV, m), join), truth
}

// LoadTable reads src as a node does (party.LoadTable under a valid
// configuration), leaving out the columns its policy excludes.
func LoadTable(t testing.TB, src source.Config, exclude ...string) *party.Table {
	t.Helper()
	return LoadTableJoin(t, src, nil, exclude...)
}

// LoadTableJoin is LoadTable for a node that matches on the identifier
// kinds joinKeys in priority order (the node's join_keys; nil for the
// default, e-mail).
func LoadTableJoin(t testing.TB, src source.Config, joinKeys []string, exclude ...string) *party.Table {
	t.Helper()
	cfg := party.DefaultConfig()
	cfg.JoinKeys = joinKeys
	cfg.Name, cfg.Federation, cfg.Listen, cfg.DataDir, cfg.InsecureLoopback = "world", "world", "127.0.0.1:1", t.TempDir(), true
	cfg.Peers = []party.PeerConfig{{Name: "peer", Address: "127.0.0.1:2"}}
	cfg.Source = &src
	cfg.Policy = &party.PolicyConfig{Exclude: exclude}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tab, err := party.LoadTable(context.Background(), &cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// Split divides a table's records into two tables with no record in
// common: those for which first(k) holds for row k, and the others (two
// insurers of one population, each policyholder with one of them).
func Split(tb *party.Table, first func(k int) bool) (a, b *party.Table) {
	in := make([]bool, tb.Records())
	out := make([]bool, len(in))
	for k := range in {
		in[k] = first(k)
		out[k] = !in[k]
	}
	return tb.Subset(in), tb.Subset(out)
}
