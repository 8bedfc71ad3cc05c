package queryfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// target is node0 of a federation of three owners.
var target = Target{Node: "node0", Owners: []string{"node0", "node1", "node2"}, Columns: []string{"spend_diet_aids", "spend_alcohol", "spend_sunscreen", "segment"},
	Levels: map[string][]string{"segment": {"new", "regular", "loyal"}}}

// goodQuery asks for every kind of statistic of node0's x against node1's
// y, in exact mode; cmd/jointly's tests send the same file to real nodes.
var goodQuery = readTestdata("good.hcl")

// goodJSON is goodQuery in HCL's JSON syntax.
var goodJSON = readTestdata("good.json")

// readTestdata is the text of the file name in testdata.
func readTestdata(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

const poolQuery = `purpose = "research"
epsilon = 2
delta   = 1e-6

pool "insurers" {
  owners = ["node1", "node2"]
}

correlation {
  x = ["node0.spend_diet_aids"]
  y = ["insurers.claims_diabetes"]
}
`

func ref(owner, name string) aggregate.ColumnRef {
	return aggregate.ColumnRef{Owner: owner, Name: name}
}

func TestParse(t *testing.T) {
	x1, x2 := ref("node0", "spend_diet_aids"), ref("node0", "spend_alcohol")
	diabetes, liver, exposure := ref("node1", "claims_diabetes"), ref("node1", "claims_liver"), ref("node1", "exposure_months")
	good := party.JointRequest{
		X:             []aggregate.ColumnRef{x1, x2},
		Y:             []aggregate.ColumnRef{diabetes, liver, exposure},
		Correlations:  true,
		CorrelationX:  []aggregate.ColumnRef{x1, x2},
		CorrelationY:  []aggregate.ColumnRef{diabetes, liver},
		Rates:         []aggregate.RateRequest{{Events: diabetes, Exposure: exposure, By: x1, Edges: []float64{50, 200}}},
		Regressions:   []aggregate.RegressionRequest{{Outcome: diabetes, Predictors: []aggregate.ColumnRef{x1, x2}}},
		Contingencies: []aggregate.ContingencyRequest{{X: x1, XEdges: []float64{50}, Y: diabetes, YEdges: []float64{1, 2}}},
		Purpose:       "research",
		Exact:         true,
	}
	// pooled is poolQuery's request at epsilon and delta.
	pooled := func(epsilon, delta float64) party.JointRequest {
		return party.JointRequest{
			X:            []aggregate.ColumnRef{x1},
			Y:            []aggregate.ColumnRef{ref("insurers", "claims_diabetes")},
			Pool:         &party.Pool{Name: "insurers", Owners: []string{"node1", "node2"}},
			Correlations: true,
			CorrelationX: []aggregate.ColumnRef{x1},
			CorrelationY: []aggregate.ColumnRef{ref("insurers", "claims_diabetes")},
			Purpose:      "research",
			Epsilon:      epsilon,
			Delta:        delta,
		}
	}
	for _, tc := range []struct {
		name, path, src string
		want            party.JointRequest
	}{
		{"hcl", "query.hcl", goodQuery, good},
		{"json", "query.json", goodJSON, good},
		{"json upper case", "QUERY.JSON", goodJSON, good},
		{"addressed", "query.hcl", "evaluator = \"node0\"\n" + goodQuery, func() party.JointRequest { r := good; r.Evaluator = "node0"; return r }()},
		{"pool", "pool.hcl", poolQuery, pooled(2, 1e-6)},
		{"y column as the rate's group", "by.hcl", `purpose = "research"
epsilon = 1
delta   = 1e-7
rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node1.age"
  buckets  = [30, 60]
}
regression {
  outcome    = "node1.claims_diabetes"
  predictors = ["node0.spend_sunscreen"]
}
`, party.JointRequest{
			X:           []aggregate.ColumnRef{ref("node0", "spend_sunscreen")},
			Y:           []aggregate.ColumnRef{diabetes, exposure, ref("node1", "age")},
			Rates:       []aggregate.RateRequest{{Events: diabetes, Exposure: exposure, By: ref("node1", "age"), Edges: []float64{30, 60}}},
			Regressions: []aggregate.RegressionRequest{{Outcome: diabetes, Predictors: []aggregate.ColumnRef{ref("node0", "spend_sunscreen")}}},
			Purpose:     "research",
			Epsilon:     1,
			Delta:       1e-7,
		}},
		{"categorical columns by level, per month", "levels.hcl", `purpose = "research"
exact   = true
rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node1.age_band"
  per      = "month"
}
contingency {
  x = "node0.segment"
  y = "node1.age_band"
}
`, party.JointRequest{
			X:             []aggregate.ColumnRef{ref("node0", "segment")},
			Y:             []aggregate.ColumnRef{diabetes, exposure, ref("node1", "age_band")},
			Rates:         []aggregate.RateRequest{{Events: diabetes, Exposure: exposure, By: ref("node1", "age_band"), Per: "month"}},
			Contingencies: []aggregate.ContingencyRequest{{X: ref("node0", "segment"), Y: ref("node1", "age_band")}},
			Purpose:       "research",
			Exact:         true,
		}},
		{"regression through the origin", "origin.hcl", `purpose = "research"
exact   = true
regression {
  outcome    = "node1.claims_diabetes"
  predictors = ["node0.spend_sunscreen"]
  intercept  = false
}
`, party.JointRequest{
			X:           []aggregate.ColumnRef{ref("node0", "spend_sunscreen")},
			Y:           []aggregate.ColumnRef{diabetes},
			Regressions: []aggregate.RegressionRequest{{Outcome: diabetes, Predictors: []aggregate.ColumnRef{ref("node0", "spend_sunscreen")}, NoIntercept: true}},
			Purpose:     "research",
			Exact:       true,
		}},
		{"correlations by another owner's buckets", "corrby.hcl", `purpose = "research"
exact   = true
correlation {
  x       = ["node0.spend_diet_aids"]
  y       = ["node1.claims_diabetes"]
  by      = "node1.age"
  buckets = [30, 60]
}
correlation {
  x       = ["node0.spend_alcohol"]
  y       = ["node1.claims_liver"]
  by      = "node1.age"
  buckets = [30, 60]
}
`, party.JointRequest{
			X:                []aggregate.ColumnRef{x1, x2},
			Y:                []aggregate.ColumnRef{diabetes, liver, ref("node1", "age")},
			Correlations:     true,
			CorrelationX:     []aggregate.ColumnRef{x1, x2},
			CorrelationY:     []aggregate.ColumnRef{diabetes, liver},
			CorrelationBy:    ref("node1", "age"),
			CorrelationEdges: []float64{30, 60},
			Purpose:          "research",
			Exact:            true,
		}},
		{"correlations by own levels", "corrlevels.hcl", `purpose = "research"
exact   = true
correlation {
  x  = ["node0.spend_diet_aids"]
  y  = ["node1.claims_diabetes"]
  by = "node0.segment"
}
`, party.JointRequest{
			X:             []aggregate.ColumnRef{x1, ref("node0", "segment")},
			Y:             []aggregate.ColumnRef{diabetes},
			Correlations:  true,
			CorrelationX:  []aggregate.ColumnRef{x1},
			CorrelationY:  []aggregate.ColumnRef{diabetes},
			CorrelationBy: ref("node0", "segment"),
			Purpose:       "research",
			Exact:         true,
		}},
		{"default delta", "dp.hcl", strings.Replace(strings.Replace(poolQuery, "epsilon = 2\n", "epsilon = 1\n", 1), "delta   = 1e-6\n", "", 1), pooled(1, DefaultDelta)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Parse(tc.path, []byte(tc.src), target)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", req, tc.want)
			}
			if err := Validate(req, target); err != nil {
				t.Fatalf("the parsed request does not validate: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	withPool := func(pool string) string { return pool + "\n" + goodQuery }
	for _, tc := range []struct {
		name, path, src string
		want            []string
	}{
		{"malformed", "query.hcl", "purpose = \n", []string{"query.hcl:1:"}},
		{"malformed on line 3", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n", []string{"query.hcl:3:"}},
		{"malformed json", "query.json", `{"purpose": }`, []string{"query.json:1:"}},
		{"hcl in a .json file", "query.json", goodQuery, []string{"query.json:1:"}},
		{"only another owner's columns", "query.hcl", "purpose = \"research\"\nexact = true\nrate {\n  events = \"node1.claims_diabetes\"\n  exposure = \"node1.exposure_months\"\n  by = \"node1.age_band\"\n}\n",
			[]string{"uses only columns of node1, and the node it is sent to is node0"}},
		{"json in a .hcl file", "query.hcl", `{"purpose": "research", "exact": true}`, []string{"query.hcl:1:", "looks like JSON", "ends in .json"}},
		{"unknown attribute", "query.hcl", "colour = \"red\"\n" + goodQuery, []string{"query.hcl:1:", "colour"}},
		{"no purpose", "query.hcl", strings.Replace(goodQuery, `purpose = "research"`, "", 1), []string{"query.hcl:", "purpose"}},
		{"wrong type", "query.hcl", strings.Replace(goodQuery, "[50, 200]", `"fifty"`, 1), []string{"query.hcl:13:"}},
		{"unknown node", "query.hcl", strings.Replace(goodQuery, "node1.claims_liver", "node7.claims_liver", 1), []string{"query.hcl: unknown node", "node7", "node0, node1, node2"}},
		{"unknown own column", "query.hcl", strings.Replace(goodQuery, "node0.spend_alcohol", "node0.spend_caviar", 1), []string{"spend_caviar", "spend_diet_aids, spend_alcohol"}},
		{"unsorted buckets", "query.hcl", strings.Replace(goodQuery, "[50, 200]", "[200, 50]", 1), []string{"buckets of node0.spend_diet_aids must be strictly increasing"}},
		{"equal buckets", "query.hcl", strings.Replace(goodQuery, "[1, 2]", "[1, 1]", 1), []string{"strictly increasing"}},
		{"empty buckets", "query.hcl", strings.Replace(goodQuery, "[50, 200]", "[]", 1), []string{"buckets of node0.spend_diet_aids are empty: a numeric column needs cut points"}},
		{"no buckets", "query.hcl", strings.Replace(goodQuery, "buckets  = [50, 200]", "", 1), []string{"buckets of node0.spend_diet_aids are empty"}},
		{"buckets of a categorical column", "query.hcl", goodQuery + "contingency {\n  x = \"node0.segment\"\n  x_buckets = [1]\n  y = \"node1.claims_liver\"\n  y_buckets = [1]\n}\n",
			[]string{"node0.segment is categorical: it is grouped by its levels (new, regular, loyal); leave out its buckets"}},
		{"per fortnight", "query.hcl", strings.Replace(goodQuery, "buckets  = [50, 200]", "buckets  = [50, 200]\n  per = \"fortnight\"", 1), []string{`per day, week, month or year, not per "fortnight"`}},
		{"empty selection", "query.hcl", "purpose = \"research\"\nexact = true\n", []string{"query.hcl: the query selects nothing"}},
		{"not node.column", "query.hcl", strings.Replace(goodQuery, "node0.spend_alcohol", "spend_alcohol", 1), []string{`column "spend_alcohol" must be written node.column`}},
		{"two dots", "query.hcl", strings.Replace(goodQuery, "node0.spend_alcohol", "node0.spend.alcohol", 1), []string{"node.column"}},
		{"no epsilon", "query.hcl", strings.Replace(goodQuery, "exact   = true", "", 1), []string{"epsilon must be positive"}},
		{"negative epsilon", "query.hcl", strings.Replace(goodQuery, "exact   = true", "epsilon = -1", 1), []string{"epsilon must be positive"}},
		{"tiny epsilon", "query.hcl", strings.Replace(goodQuery, "exact   = true", "epsilon = 1e-20\ndelta = 1e-6", 1), []string{"query.hcl", "epsilon 1e-20 is outside [1e-06, 1000]"}},
		{"negative delta", "query.hcl", strings.Replace(goodQuery, "exact   = true", "epsilon = 1\ndelta = -1e-7", 1), []string{"delta -1e-07 is outside [1e-15, 0.01]"}},
		{"correlation without y", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = []\n}\n", []string{"needs columns in both x and y"}},
		{"regression without predictors", "query.hcl", strings.Replace(goodQuery, `predictors = ["node0.spend_diet_aids", "node0.spend_alcohol"]`, "predictors = []", 1), []string{"the regression of node1.claims_diabetes has no predictors"}},
		{"three owners", "query.hcl", strings.Replace(goodQuery, "node1.claims_liver", "node2.claims_liver", 1), []string{"columns of node1 and node2"}},
		{"own columns only", "query.hcl", "purpose = \"research\"\nexact = true\nregression {\n  outcome = \"node0.spend_alcohol\"\n  predictors = [\"node0.spend_diet_aids\"]\n}\n", []string{"must use columns of node0"}},
		{"own outcome", "query.hcl", "purpose = \"research\"\nexact = true\nregression {\n  outcome = \"node0.spend_alcohol\"\n  predictors = [\"node1.claims_liver\"]\n}\n", []string{"the outcome node0.spend_alcohol of a regression is node0's own column", "send the query to another owner's node"}},
		{"two pools", "query.hcl", withPool("pool \"a\" {\n  owners = [\"node1\", \"node2\"]\n}\npool \"b\" {\n  owners = [\"node1\", \"node2\"]\n}\n"), []string{"one pool per query (2 declared)"}},
		{"pool named like a node", "query.hcl", withPool("pool \"node1\" {\n  owners = [\"node1\", \"node2\"]\n}\n"), []string{"name of a node"}},
		{"pool of one", "query.hcl", withPool("pool \"ins\" {\n  owners = [\"node1\"]\n}\n"), []string{"needs at least two owners"}},
		{"pool with the evaluator", "query.hcl", withPool("pool \"ins\" {\n  owners = [\"node1\", \"node0\"]\n}\n"), []string{`"node0" is not another data owner`}},
		{"addressed to another node", "query.hcl", "evaluator = \"node1\"\n" + goodQuery, []string{"query.hcl: the query is for node1 (evaluator)", "send it to node1"}},
		{"pool of unknown owners", "query.hcl", withPool("pool \"ins\" {\n  owners = [\"node1\", \"node9\"]\n}\n"), []string{`"node9" is not another data owner`}},
		{"pool listing an owner twice", "query.hcl", withPool("pool \"ins\" {\n  owners = [\"node1\", \"node1\"]\n}\n"), []string{"listed twice"}},
		{"correlations grouped two ways", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node1.age\"\n  buckets = [40]\n}\ncorrelation {\n  x = [\"node0.spend_diet_aids\"]\n  y = [\"node1.claims_liver\"]\n}\n",
			[]string{"the correlation blocks group by node1.age at [40] and nothing"}},
		{"correlations by one of theirs", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node1.claims_liver\"\n  buckets = [1]\n}\n",
			[]string{"node1.claims_liver groups the correlations and is one of their columns"}},
		{"correlation buckets without by", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  buckets = [1]\n}\n",
			[]string{"buckets but no by column"}},
		{"correlations by own numeric column without buckets", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node0.spend_diet_aids\"\n}\n",
			[]string{"buckets of node0.spend_diet_aids are empty"}},
		{"correlations by own levels with buckets", "query.hcl", "purpose = \"research\"\nexact = true\ncorrelation {\n  x = [\"node0.spend_alcohol\"]\n  y = [\"node1.claims_liver\"]\n  by = \"node0.segment\"\n  buckets = [1]\n}\n",
			[]string{"node0.segment is categorical"}},
		{"pool no column uses", "query.hcl", strings.Replace(poolQuery, "insurers.claims_diabetes", "node1.claims_diabetes", 1), []string{"declared but the columns are node1's"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Parse(tc.path, []byte(tc.src), target)
			if err == nil {
				t.Fatalf("accepted: %+v", req)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !reflect.DeepEqual(req, party.JointRequest{}) {
				t.Fatalf("a request returned with the error: %+v", req)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good, err := Parse("query.hcl", []byte(goodQuery), target)
	if err != nil {
		t.Fatal(err)
	}
	pooled, err := Parse("pool.hcl", []byte(poolQuery), target)
	if err != nil {
		t.Fatal(err)
	}
	x1, y1 := good.X[0], good.Y[0]
	for _, tc := range []struct {
		name   string
		base   party.JointRequest
		change func(r *party.JointRequest)
		want   string
	}{
		{"good", good, func(r *party.JointRequest) {}, ""},
		{"pooled", pooled, func(r *party.JointRequest) {}, ""},
		{"nothing selected", good, func(r *party.JointRequest) {
			r.Correlations, r.Rates, r.Regressions, r.Contingencies = false, nil, nil, nil
		}, "selects nothing"},
		{"no epsilon", good, func(r *party.JointRequest) { r.Exact = false }, "epsilon"},
		{"no x", good, func(r *party.JointRequest) { r.X = nil }, "a query needs both"},
		{"no y", good, func(r *party.JointRequest) { r.Y = nil }, "a query needs both"},
		{"x of another owner", good, func(r *party.JointRequest) { r.X = append(r.X, ref("node1", "spend_alcohol")) }, "not a column of node0"},
		{"unknown x column", good, func(r *party.JointRequest) { r.X = append(r.X, ref("node0", "spend_caviar")) }, "not a column of node0"},
		{"x twice", good, func(r *party.JointRequest) { r.X = append(r.X, x1) }, "listed twice"},
		{"y of the evaluator", good, func(r *party.JointRequest) { r.Y = []aggregate.ColumnRef{x1} }, "not another data owner's"},
		{"y of a stranger", good, func(r *party.JointRequest) { r.Y = []aggregate.ColumnRef{ref("node9", "c")} }, "not another data owner's"},
		{"y of two owners", good, func(r *party.JointRequest) { r.Y = append(r.Y, ref("node2", "c")) }, "y columns of node1 and node2"},
		{"y twice", good, func(r *party.JointRequest) { r.Y = append(r.Y, y1) }, "listed twice"},
		{"malformed y", good, func(r *party.JointRequest) { r.Y = append(r.Y, ref("node1", "a.b")) }, "not owner.column"},
		{"empty y name", good, func(r *party.JointRequest) { r.Y = append(r.Y, ref("node1", "")) }, "not owner.column"},
		{"rate of another column", good, func(r *party.JointRequest) { r.Rates[0].Exposure = ref("node1", "age") }, "neither an x nor a y column"},
		{"rate by level", good, func(r *party.JointRequest) { r.Rates[0].Edges = nil }, ""},
		{"correlation set outside x", good, func(r *party.JointRequest) { r.CorrelationX = append(r.CorrelationX, ref("node0", "spend_caviar")) }, "not an x column"},
		{"correlation set outside y", good, func(r *party.JointRequest) { r.CorrelationY = append(r.CorrelationY, ref("node1", "age")) }, "not a y column"},
		{"correlation sets without correlations", good, func(r *party.JointRequest) { r.Correlations = false }, "correlation columns without correlations"},
		{"column outside the sets", good, func(r *party.JointRequest) { r.Y = append(r.Y, ref("node1", "age")) }, "node1.age is used by no statistic"},
		{"contingency with decreasing edges", good, func(r *party.JointRequest) { r.Contingencies[0].YEdges = []float64{2, 1} }, "not strictly increasing"},
		{"regression without predictors", good, func(r *party.JointRequest) { r.Regressions[0].Predictors = nil }, "no predictors"},
		{"unused column", good, func(r *party.JointRequest) {
			r.Correlations, r.CorrelationX, r.CorrelationY = false, nil, nil
			r.Y = append(r.Y, ref("node1", "age"))
		}, "used by no statistic"},
		{"correlations by a y column", good, func(r *party.JointRequest) {
			r.Y = append(r.Y, ref("node1", "age"))
			r.CorrelationBy, r.CorrelationEdges = ref("node1", "age"), []float64{40}
		}, ""},
		{"correlations by an unknown column", good, func(r *party.JointRequest) { r.CorrelationBy = ref("node1", "age") }, "neither an x nor a y column"},
		{"correlations by one of theirs", good, func(r *party.JointRequest) { r.CorrelationBy = y1 }, "groups the correlations and is one of their columns"},
		{"correlations grouped without correlations", good, func(r *party.JointRequest) {
			r.Correlations, r.CorrelationX, r.CorrelationY, r.CorrelationBy = false, nil, nil, x1
		}, "without correlations"},
		{"correlation buckets without by", good, func(r *party.JointRequest) { r.CorrelationEdges = []float64{1} }, "without a column to group by"},
		{"correlation buckets decreasing", good, func(r *party.JointRequest) {
			r.Y = append(r.Y, ref("node1", "age"))
			r.CorrelationBy, r.CorrelationEdges = ref("node1", "age"), []float64{60, 40}
		}, "not strictly increasing"},
		{"pool named like a node", pooled, func(r *party.JointRequest) { r.Pool = &party.Pool{Name: "node1", Owners: []string{"node1", "node2"}} }, "name of a node"},
		{"pool of one", pooled, func(r *party.JointRequest) { r.Pool = &party.Pool{Name: "insurers", Owners: []string{"node1"}} }, "not two or more"},
		{"pool with the evaluator", pooled, func(r *party.JointRequest) {
			r.Pool = &party.Pool{Name: "insurers", Owners: []string{"node1", "node0"}}
		}, "not another data owner"},
		{"y not the pool's", pooled, func(r *party.JointRequest) { r.Y = []aggregate.ColumnRef{ref("node1", "claims_diabetes")} }, `not the pool "insurers"'s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := clone(tc.base)
			tc.change(&r)
			err := Validate(r, target)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
				t.Fatalf("error %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

// clone copies a request deeply enough for a test to change it.
func clone(r party.JointRequest) party.JointRequest {
	r.X = append([]aggregate.ColumnRef(nil), r.X...)
	r.Y = append([]aggregate.ColumnRef(nil), r.Y...)
	r.CorrelationX = append([]aggregate.ColumnRef(nil), r.CorrelationX...)
	r.CorrelationY = append([]aggregate.ColumnRef(nil), r.CorrelationY...)
	r.Rates = append([]aggregate.RateRequest(nil), r.Rates...)
	r.Regressions = append([]aggregate.RegressionRequest(nil), r.Regressions...)
	r.Contingencies = append([]aggregate.ContingencyRequest(nil), r.Contingencies...)
	return r
}
