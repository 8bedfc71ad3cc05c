package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/queryfile"
)

// The reports are read in a browser and printed, so they are tested in
// one: headless Chromium driven over the DevTools protocol (chromedp).

// viewportWidth is the screen the reports must fit without scrolling
// sideways; printWidth the CSS width of A4 landscape inside the reports'
// 10 mm margins (277 mm at 96 px per inch).
const (
	viewportWidth = 1280
	printWidth    = 1047
)

// chromiumPath finds the browser: $JOINTLY_CHROMIUM, or chromium (Debian's
// package, which .ci/run installs), chromium-browser or google-chrome on
// the PATH. Without one the test is skipped, unless CI is set: there a
// missing browser fails it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JOINTLY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal("no chromium found and CI is set: the report tests need a browser (.ci/run installs Debian's chromium; JOINTLY_CHROMIUM names another)")
	}
	t.Skip("no chromium found (install Debian's chromium, or set JOINTLY_CHROMIUM)")
	return ""
}

// browser starts a headless Chromium with a fresh profile for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.Flag("hide-scrollbars", false), // measure as a reader sees, scroll bar included
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportWidth, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// renderedPage is what a report looks like in the browser.
type renderedPage struct {
	// Width is the document's scroll width in a 1,280 px viewport,
	// PrintLayoutWidth in print media at the width of A4 landscape;
	// Overflowing and PrintOverflowing name the elements that reach past
	// them.
	Width, PrintLayoutWidth       int
	Overflowing, PrintOverflowing []string
	// Text is the rendered text (innerText): what a reader sees.
	Text string
	// SplitBlocks are the first lines of the blocks of the question that
	// the page's columns cut in two.
	SplitBlocks []string
	// Pages is the page count of the page printed to A4 landscape.
	Pages int
	// Errors are the console's errors and the page's exceptions.
	Errors []string
}

// overflowing lists the innermost elements that reach past the viewport's
// right edge, with their text, to say what to fix.
const overflowing = `Array.from(document.body.querySelectorAll('*'))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter(e => !Array.from(e.children).some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right) + 'px: ' + (e.innerText || '').slice(0, 60))`

// splitBlocks lists the first line of each block of the question laid
// out in more than one column.
const splitBlocks = `Array.from(document.querySelectorAll('pre.query .blk'))
  .filter(e => e.getClientRects().length > 1)
  .map(e => e.innerText.split('\n')[0])`

// pdfPage matches a page object of a PDF (not the /Pages tree).
var pdfPage = regexp.MustCompile(`/Type\s*/Page\b[^s]`)

// render opens the HTML file at path in a new tab, measures it, prints it
// to PDF and saves a full-page screenshot and the PDF in shots.
func render(t *testing.T, bctx context.Context, path, shots string) renderedPage {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, step, err)
		}
	}

	// The console's errors, the page's exceptions and the browser log's
	// errors (a missing resource), collected until the tab closes.
	var p renderedPage
	var mu sync.Mutex
	var wg sync.WaitGroup
	console := chromedp.Console(ctx)
	listening, stopListening := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil || listening.Err() != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				p.Errors = append(p.Errors, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()

	fail("open", chromedp.Do(ctx,
		chromedp.EmulateViewport(viewportWidth, 900),
		chromedp.Navigate("file://"+path),
		chromedp.WaitReady("body"),
	))
	var err error
	p.Width, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	fail("measure", err)
	p.Overflowing, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowing))
	fail("measure", err)
	p.Text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	fail("read", err)
	p.SplitBlocks, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](splitBlocks))
	fail("measure", err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot", err)

	// The layout in print media at the printable width of A4 landscape.
	fail("print media", chromedp.Do(ctx,
		chromedp.EmulateViewport(printWidth, 900),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}),
	))
	p.PrintLayoutWidth, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	fail("measure print", err)
	p.PrintOverflowing, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowing))
	fail("measure print", err)
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	fail("print", err)
	p.Pages = len(pdfPage.FindAll(pdf, -1))

	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	for name, data := range map[string][]byte{base + ".png": shot, base + ".pdf": pdf} {
		if err := os.WriteFile(filepath.Join(shots, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stopListening()
	cancel()
	wg.Wait()
	return p
}

// checkLayout asserts what both reports promise a reader: nothing wider
// than the screen or the printed page, no console error, some pages.
func checkLayout(t *testing.T, name string, p renderedPage) {
	t.Helper()
	t.Logf("%s: %d px wide at %d px, %d px in print layout, %d A4 landscape pages", name, p.Width, viewportWidth, p.PrintLayoutWidth, p.Pages)
	if p.Width > viewportWidth {
		t.Errorf("%s is %d px wide: it overflows a %d px screen:\n%s", name, p.Width, viewportWidth, strings.Join(p.Overflowing, "\n"))
	}
	if p.PrintLayoutWidth > printWidth {
		t.Errorf("%s is %d px wide in print: it overflows A4 landscape (%d px):\n%s", name, p.PrintLayoutWidth, printWidth, strings.Join(p.PrintOverflowing, "\n"))
	}
	if len(p.Errors) > 0 {
		t.Errorf("%s: console errors:\n%s", name, strings.Join(p.Errors, "\n"))
	}
	if len(p.SplitBlocks) > 0 {
		t.Errorf("%s: the columns cut blocks of the question in two: %q", name, p.SplitBlocks)
	}
	if p.Pages == 0 {
		t.Errorf("%s printed to no page", name)
	}
}

// shotsDir is where the screenshots and PDFs go: the test's temporary
// directory, or $JOINTLY_REPORT_SHOTS to keep them.
func shotsDir(t *testing.T) string {
	if d := os.Getenv("JOINTLY_REPORT_SHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// cellsInText returns the cells of q whose value, interval or
// suppression reason the rendered text lacks.
func cellsInText(q *queryResult, text string) []string {
	var missing []string
	for i := range q.Cells {
		c := &q.Cells[i]
		var want []string
		switch {
		case c.Suppressed:
			want = []string{"suppressed: " + cellReason(c.Reason)}
		default:
			v, ci := cellText(c, true)
			want = []string{v}
			if ci != "" {
				want = append(want, ci)
			}
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = append(missing, fmt.Sprintf("%s %s × %s %s: %q", c.Statistic, c.X, c.Y, c.Group, w))
			}
		}
	}
	return missing
}

// browserQuery is a DP query over every column of the test world: a
// 16 × 7 correlation matrix, rates by an x column and by the levels of a
// categorical y column, a regression adjusted for that column and a
// contingency table. At about 900 people and ε = 4, the rare claims'
// cells come out suppressed.
const browserQuery = `purpose = "research"
epsilon = 50

correlation {
  x = ["node0.spend_fresh_produce", "node0.spend_snacks", "node0.spend_diet_aids", "node0.spend_alcohol",
       "node0.spend_tobacco", "node0.spend_sunscreen", "node0.spend_sugary_drinks", "node0.spend_whole_grains",
       "node0.spend_frozen_meals", "node0.spend_baby", "node0.spend_pet_food", "node0.spend_pharmacy",
       "node0.spend_prophylactics", "node0.spend_dairy", "node0.spend_bakery", "node0.spend_household"]
  y = ["node1.claims_diabetes", "node1.claims_cardiovascular", "node1.claims_liver", "node1.claims_skin_cancer",
       "node1.claims_respiratory", "node1.claims_hiv_related", "node1.exposure_months"]
}

rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node0.spend_diet_aids"
  buckets  = [20, 100, 300]
}

rate {
  events   = "node1.claims_cardiovascular"
  exposure = "node1.exposure_months"
  by       = "node1.age_band"
}

regression {
  outcome    = "node1.claims_diabetes"
  predictors = ["node0.spend_diet_aids", "node0.spend_sugary_drinks", "node1.age_band"]
}

contingency {
  x         = "node0.spend_alcohol"
  x_buckets = [100, 600]
  y         = "node1.claims_liver"
  y_buckets = [1]
}
`

// TestReportsInBrowser renders the result report of a real DP query in
// headless Chromium and checks what a reader relies on: the page fits a
// 1,280 px screen and A4 landscape, every released cell's value and
// interval is in the rendered text, every suppressed cell's reason too,
// the planner's predicted half-widths beside them, and the console stays
// clean. It logs the widths and the printed page
// count, and keeps a screenshot and the PDF in the test's directory.
func TestReportsInBrowser(t *testing.T) {
	bctx := browser(t)
	// The demo's world, smaller, with the bounds a careful owner declares
	// (tightenBounds): 2,000 customers per side, about 900 in common.
	r, i, _ := partytest.World(t, 2000, 0.5, 4)
	for _, tab := range []*party.Table{r, i} {
		for col, b := range tab.Bounds {
			switch {
			case strings.HasPrefix(col, "spend_"):
				b[1] = math.Max(50, math.Ceil(b[1]/25*4/50)*50)
			case strings.HasPrefix(col, "claims_"):
				b[1] = 4
			}
			tab.Bounds[col] = b
		}
	}
	// node0 allows marketing, node1 does not: the transparency report then
	// has a query the other owner refused.
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	c.Configs[0].Policy.Purposes = []string{"research", "marketing"}
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	client := c.Dial(t, 0)
	ctx := context.Background()
	info, err := client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := queryfile.Parse("question.hcl", []byte(browserQuery), queryfile.Target{Node: info.Node, Owners: info.Owners, Columns: info.Columns, Levels: map[string][]string{}})
	if err != nil {
		t.Fatal(err)
	}
	req.Querier = partytest.Querier
	joint, err := client.Joint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	res := &queryResult{JointResult: joint, Query: browserQuery, File: "question.hcl", Received: time.Now().UTC()}
	// The planner's prediction beside the realised cells, as jointly query
	// makes it.
	if err := res.Predict(aggregate.Assumptions{}, nil); err != nil {
		t.Fatal(err)
	}
	shots := shotsDir(t)
	resultPath := filepath.Join(shots, "result.html")
	if err := writeResultFile(resultPath, "html", res); err != nil {
		t.Fatal(err)
	}

	result := render(t, bctx, resultPath, shots)
	checkLayout(t, "result report", result)
	predicted := predictions(res)
	if predicted == nil {
		t.Fatal("the result carries no prediction")
	}
	for i, p := range predicted {
		if p == nil {
			continue // a cell without a prediction (suppressed, or nothing to predict)
		}
		if want := plannedText(&res.Cells[i], p, true); !strings.Contains(result.Text, want) {
			t.Errorf("the rendered result report lacks the planned %s of %s %s × %s", want, res.Cells[i].Statistic, res.Cells[i].X, res.Cells[i].Y)
			break
		}
	}
	if missing := cellsInText(res, result.Text); len(missing) > 0 {
		t.Errorf("%d of %d cells are not in the rendered result report, e.g.:\n%s", len(missing), len(res.Cells), strings.Join(missing[:min(len(missing), 10)], "\n"))
	}
	suppressed := 0
	for _, cell := range res.Cells {
		if cell.Suppressed {
			suppressed++
		}
	}
	left := fmt.Sprintf("ε %.4g, δ %.3g", res.BudgetLeft["node1"].Epsilon, res.BudgetLeft["node1"].Delta)
	for _, want := range []string{res.QueryID, "purpose = \"research\"", left, "spend_diet_aids", "[0, 12]", "Rates and relative risks", "claims_diabetes per year of exposure", "45-64",
		"levels 18-29, 30-44, 45-64, 65+", "age_band=65+", "Regressions", "node1.age_band: 65+ (against 18-29)"} {
		if !strings.Contains(result.Text, want) {
			t.Errorf("the rendered result report lacks %q", want)
		}
	}
	t.Logf("result report: %d cells, %d suppressed; screenshot and PDF in %s", len(res.Cells), suppressed, shots)

	// The transparency report of the evaluator: the query above, one its
	// own policy refuses and one the other owner refuses.
	for _, purpose := range []string{"underwriting", "marketing"} {
		refused := req
		refused.Purpose = purpose
		if _, err := client.Joint(ctx, refused); !errors.Is(err, party.ErrPolicy) {
			t.Fatalf("a query for %s: %v, want a refusal", purpose, err)
		}
	}
	cfg := c.Configs[0]
	budgets := map[string]audit.Budget{}
	for q, b := range cfg.Budgets() {
		budgets[q] = audit.Budget{Epsilon: b.Epsilon, Delta: b.Delta}
	}
	report, err := readTransparency(cfg.AuditPath(), budgets)
	if err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(shots, "transparency.html")
	if _, err := writeTransparencyFiles(report, "html", reportPath); err != nil {
		t.Fatal(err)
	}
	transparency := render(t, bctx, reportPath, shots)
	checkLayout(t, "transparency report", transparency)
	spent := report.Requesters[0]
	for _, want := range []string{
		"Transparency report of node0", "What the privacy cost means", res.QueryID, "spend_diet_aids", "underwriting", "marketing",
		`refused by node1: purpose "marketing" is not allowed (allowed: research)`, `purpose "underwriting" is not allowed`,
		fmt.Sprintf("researcher\t%d\t%d\t%d\t%d\t%g\t%g\t%g", spent.Queries, spent.Released, spent.Refused, spent.Charged, spent.EpsilonSpent, spent.Budget.Epsilon, spent.Left.Epsilon),
		"Private matching",
	} {
		if !strings.Contains(transparency.Text, want) {
			t.Errorf("the rendered transparency report lacks %q", want)
		}
	}
	for _, jargon := range []string{"role: ", "crs_digest", "party: ", "ledger: "} {
		if strings.Contains(transparency.Text, jargon) {
			t.Errorf("the rendered transparency report says %q", jargon)
		}
	}
}
