package queryfile

import (
	"errors"
	"strings"
	"testing"
)

// maxFuzzInput caps the files FuzzParse reads: a query file is a few
// hundred bytes, and long inputs only slow the search down.
const maxFuzzInput = 4 << 10

// FuzzParse feeds arbitrary bytes to Parse and Check as HCL and as HCL's
// JSON syntax: they must not panic, every error must wrap ErrInvalid, and
// every request they accept must pass Validate.
func FuzzParse(f *testing.F) {
	for _, src := range []string{
		goodQuery,
		poolQuery,
		goodJSON,
		`{"purpose": "research", "epsilon": 1, "pool": {"ins": {"owners": ["node1", "node2"]}}, "correlation": {"x": ["node0.spend_alcohol"], "y": ["ins.claims_liver"]}}`,
		"purpose = \"research\"\nepsilon = 1e308\nrate {\n  events = \"node1.e\"\n  exposure = \"node1.m\"\n  by = \"node1.age\"\n  buckets = [-1e300, 0, 1e300]\n}\nregression {\n  outcome = \"node1.e\"\n  predictors = [\"node0.spend_sunscreen\"]\n}\n",
		strings.Replace(goodQuery, "[50, 200]", "[200, 50]", 1),
		"purpose = \"research\"\nepsilon = 1\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node1.age\"\n  buckets = [30, 60]\n}\n",
		"purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node0.segment\"\n}\n",
		"purpose = \n",
		"",
	} {
		f.Add([]byte(src), false)
		f.Add([]byte(src), true)
	}
	f.Fuzz(func(t *testing.T, src []byte, json bool) {
		if len(src) > maxFuzzInput {
			return
		}
		path := "query.hcl"
		if json {
			path = "query.json"
		}
		if req, t2, err := Check(path, src); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check: error %v does not wrap ErrInvalid", err)
			}
		} else if err := Validate(req, t2); err != nil {
			t.Fatalf("Check accepted a request Validate refuses: %v\n%s", err, src)
		}
		req, err := Parse(path, src, target)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := Validate(req, target); err != nil {
			t.Fatalf("Parse accepted a request Validate refuses: %v\n%s", err, src)
		}
	})
}
