package queryfile

import (
	"slices"

	"github.com/jointly-dev/jointly/party"
)

// Check checks the query file at path, whose contents are src, on its own,
// before the node it goes to is known: everything Parse checks except that
// the node has the columns the file names. It returns the request the file
// makes of the first node it names that could evaluate it (the owner of
// the first column, normally), with that node as the Target. Its errors
// are Parse's.
func Check(path string, src []byte) (party.JointRequest, Target, error) {
	qf, err := decode(path, src)
	if err != nil {
		return party.JointRequest{}, Target{}, &fileError{msg: err.Error()}
	}
	owners, columns := qf.named()
	var first error
	for _, node := range owners {
		t := Target{Node: node, Owners: owners, Columns: columns[node]}
		req, err := Parse(path, src, t)
		if err == nil {
			return req, t, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil { // no column at all: Parse words what is missing
		_, first = Parse(path, src, Target{})
	}
	return party.JointRequest{}, Target{}, first
}

// named lists the owners the file names, in the order Parse meets them
// (the pool's name is not an owner, its members are), and the columns it
// names of each.
func (qf file) named() (owners []string, columns map[string][]string) {
	columns = map[string][]string{}
	pools := map[string]bool{}
	for _, p := range qf.Pools {
		pools[p.Name] = true
	}
	add := func(s string) {
		r, err := parseRef(s)
		if err != nil || pools[r.Owner] {
			return
		}
		if !slices.Contains(owners, r.Owner) {
			owners = append(owners, r.Owner)
		}
		if !slices.Contains(columns[r.Owner], r.Name) {
			columns[r.Owner] = append(columns[r.Owner], r.Name)
		}
	}
	for _, c := range qf.Correlations {
		for _, s := range append(slices.Clone(c.X), c.Y...) {
			add(s)
		}
	}
	for _, r := range qf.Rates {
		add(r.Events)
		add(r.Exposure)
		add(r.By)
	}
	for _, r := range qf.Regressions {
		add(r.Outcome)
		for _, s := range r.Predictors {
			add(s)
		}
	}
	for _, c := range qf.Contingencies {
		add(c.X)
		add(c.Y)
	}
	for _, p := range qf.Pools {
		for _, o := range p.Owners {
			if !slices.Contains(owners, o) {
				owners = append(owners, o)
			}
		}
	}
	return owners, columns
}
