package queryfile

import (
	"reflect"
	"strings"
	"testing"
)

// levelsQuery groups by a categorical column of each owner, asks a rate
// per month, and correlates a subset of its columns.
const levelsQuery = `purpose = "research"
epsilon = 1

correlation {
  x = ["node0.spend_alcohol"]
  y = ["node1.claims_liver"]
}

rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node1.age_band"
  per      = "month"
}

contingency {
  x = "node0.spend_diet_aids"
  x_buckets = [50]
  y = "node1.age_band"
}
`

// TestFormatRoundTrip: the file Format writes parses back to the request
// it was written from, whatever characters its purpose holds.
func TestFormatRoundTrip(t *testing.T) {
	dp := strings.Replace(goodQuery, "exact   = true", "evaluator = \"node0\"\nepsilon = 0.5\ndelta = 2e-8", 1)
	for _, tc := range []struct{ name, path, src, purpose string }{
		{"exact", "q.hcl", goodQuery, ""},
		{"json", "q.json", goodJSON, ""},
		{"pool", "q.hcl", poolQuery, ""},
		{"evaluator", "q.hcl", dp, ""},
		{"escapes", "q.hcl", dp, "study \"A\"\tof ${x} and %{y}, back\\slash, é\n\x01"},
		{"levels and units", "q.hcl", levelsQuery, ""},
		{"grouped correlations", "q.hcl", strings.Replace(levelsQuery, "  y = [\"node1.claims_liver\"]\n", "  y = [\"node1.claims_liver\"]\n  by = \"node1.age\"\n  buckets = [30, 65]\n", 1), ""},
		{"correlations by levels", "q.hcl", strings.Replace(levelsQuery, "  y = [\"node1.claims_liver\"]\n", "  y = [\"node1.claims_liver\"]\n  by = \"node1.age_band\"\n", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Parse(tc.path, []byte(tc.src), target)
			if err != nil {
				t.Fatal(err)
			}
			if tc.purpose != "" {
				want.Purpose = tc.purpose
			}
			text := Format(want)
			got, err := Parse("formatted.hcl", text, target)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n%s\ngives %+v\nwant %+v", text, got, want)
			}
		})
	}
}
