package queryfile

import (
	"errors"
	"strings"
	"testing"
)

// TestCheck: a file checked on its own passes when some node it names
// could evaluate it, and fails with Parse's words otherwise; which columns
// a node has is left to Parse.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, path, src string
		node            string
	}{
		{"hcl", "query.hcl", goodQuery, "node0"},
		{"json", "query.json", goodJSON, "node0"},
		{"pool", "pool.hcl", poolQuery, "node0"},
		{"a column the node may not have", "query.hcl", strings.Replace(goodQuery, "node0.spend_alcohol", "node0.spend_caviar", 1), "node0"},
		// The outcome's owner is named first; the query goes to the other.
		{"predictors of both owners", "query.hcl", "purpose = \"research\"\nexact = true\nregression {\n  outcome = \"node1.claims_diabetes\"\n  predictors = [\"node1.age_band\", \"node0.spend_diet_aids\"]\n}\n", "node0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, target, err := Check(tc.path, []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if target.Node != tc.node {
				t.Fatalf("checked as a query to %s, want %s", target.Node, tc.node)
			}
			if err := Validate(req, target); err != nil {
				t.Fatalf("the checked request does not validate: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name, path, src string
		want            []string
	}{
		{"malformed", "query.hcl", "purpose = \n", []string{"query.hcl:1:"}},
		{"malformed on line 3", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n", []string{"query.hcl:3:"}},
		{"unknown attribute", "query.hcl", "colour = \"red\"\n" + goodQuery, []string{"query.hcl:1:", "colour"}},
		{"unsorted buckets", "query.hcl", strings.Replace(goodQuery, "[50, 200]", "[200, 50]", 1), []string{"strictly increasing"}},
		{"empty selection", "query.hcl", "purpose = \"research\"\nexact = true\n", []string{"selects nothing"}},
		{"not node.column", "query.hcl", strings.Replace(goodQuery, "node0.spend_alcohol", "spend_alcohol", 1), []string{"must be written node.column"}},
		{"tiny epsilon", "query.hcl", strings.Replace(goodQuery, "exact   = true", "epsilon = 1e-20\ndelta = 1e-6", 1), []string{"epsilon 1e-20 is outside"}},
		{"three owners", "query.hcl", strings.Replace(goodQuery, "node1.claims_liver", "node2.claims_liver", 1), []string{"columns of node1 and node2"}},
		{"own columns only", "query.hcl", "purpose = \"research\"\nexact = true\nregression {\n  outcome = \"node0.spend_alcohol\"\n  predictors = [\"node0.spend_diet_aids\"]\n}\n", []string{"must use columns of node0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Check(tc.path, []byte(tc.src))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
